"""The importer toolkit: what every graph importer (ONNX, torch.fx, next TensorFlow graphs)
needs besides its own reader and operator table.

- values.py       the symbolic values a graph's names take while converting (run-time tensors,
                  sizes known only at run time, constants, lazily made tensors) and constant folding
- naming.py       unique layer names
- layout.py       per-axis options, size entries, index items, weight layouts (channels-first kernels)
- emit.py         one function per layer kind that adds it to a builder from plain values (Dense,
                  ConvND, pooling, normalizations, Embedding, tensor.* ops): a framework's operator and
                  another framework's operator of the same math call the same function
- activations.py  each framework's activation names -> npinfer's canonical activations

A builder (onnx_graph.Converter, torch_graph.Builder) offers `emit(class_name, config, inputs,
weights=None, kwargs=None, base=None) -> list of outputs`, which is all emit.py calls.
"""
