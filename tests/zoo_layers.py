"""Zoo cases for real-world sequence models: Bidirectional, TimeDistributed, masks, embeddings,
Conv1D and pooling, normalization, merges, attention, RNN cells, initial states, nested
models, shared layers, stateful layers. Registered into zoo.CASES."""

from __future__ import annotations

from zoo import _seq, case

# -- Bidirectional -----------------------------------------------------------------------

BIDI = {
    "concat": {}, "sum": {"merge_mode": "sum"}, "mul_sequences": {"merge_mode": "mul", "sequences": True},
    "ave_sequences": {"merge_mode": "ave", "sequences": True}, "none_sequences": {"merge_mode": None, "sequences": True},
    "concat_sequences": {"sequences": True}, "none": {"merge_mode": None},
}


def _bidi(layer_name, variant, options):
    def build(k, flavor):
        opts = dict(options)
        sequences = opts.pop("sequences", False)
        x = k.Input((6, 4))
        inner = getattr(k.layers, layer_name)(5, return_sequences=sequences)
        out = k.layers.Bidirectional(inner, **opts)(x)
        return k.Model(x, out if not isinstance(out, list) else list(out))
    return build


for _layer in ("LSTM", "GRU", "SimpleRNN"):
    for _variant, _options in BIDI.items():
        if _layer != "LSTM" and _variant not in ("concat", "sum", "none_sequences"):
            continue
        case(f"bidirectional_{_layer.lower()}_{_variant}")(_bidi(_layer, _variant, _options))


@case("bidirectional_lstm_state")
def _bidi_state(k, flavor):
    x = k.Input((6, 4))
    outs = k.layers.Bidirectional(k.layers.LSTM(5, return_state=True, return_sequences=True))(x)
    return k.Model(x, list(outs))


@case("bidirectional_gru_state_none")
def _bidi_state_none(k, flavor):
    x = k.Input((6, 4))
    outs = k.layers.Bidirectional(k.layers.GRU(3, return_state=True), merge_mode=None)(x)
    return k.Model(x, list(outs))


@case("bidirectional_custom_backward")
def _bidi_backward(k, flavor):
    forward = k.layers.LSTM(4, return_sequences=True)
    backward = k.layers.GRU(4, return_sequences=True, go_backwards=True)
    return _seq(k, (6, 3), k.layers.Bidirectional(forward, backward_layer=backward), k.layers.Dense(2))


@case("bidirectional_stacked_with_dense")
def _bidi_stacked(k, flavor):
    return _seq(k, (None, 3), k.layers.Bidirectional(k.layers.LSTM(4, return_sequences=True)),
                k.layers.Bidirectional(k.layers.GRU(3), merge_mode="sum"), k.layers.Dense(1))


# -- TimeDistributed, RepeatVector, encoder-decoder ---------------------------------------

@case("time_distributed_dense")
def _td(k, flavor):
    return _seq(k, (5, 4), k.layers.LSTM(6, return_sequences=True), k.layers.TimeDistributed(k.layers.Dense(3, activation="relu")))


@case("time_distributed_flatten")
def _td_flatten(k, flavor):
    return _seq(k, (5, 3, 2), k.layers.TimeDistributed(k.layers.Flatten()), k.layers.GRU(4))


@case("repeat_vector_seq2seq")
def _repeat(k, flavor):
    return _seq(k, (6, 3), k.layers.LSTM(5), k.layers.RepeatVector(4), k.layers.LSTM(5, return_sequences=True),
                k.layers.TimeDistributed(k.layers.Dense(2)))


@case("encoder_decoder_initial_state", intermediates=True)
def _enc_dec(k, flavor):
    source = k.Input((7, 3), name="source")
    target = k.Input((5, 2), name="target")
    _, h, c = k.layers.LSTM(6, return_state=True, name="encoder")(source)
    decoded = k.layers.LSTM(6, return_sequences=True, name="decoder")(target, initial_state=[h, c])
    return k.Model([source, target], k.layers.Dense(2, name="head")(decoded))


@case("gru_initial_state_from_dense")
def _gru_initial(k, flavor):
    x = k.Input((5, 3))
    context = k.Input((4,))
    h0 = k.layers.Dense(6, activation="tanh")(context)
    return k.Model([x, context], k.layers.GRU(6)(x, initial_state=[h0]))


@case("bidirectional_initial_state")
def _bidi_initial(k, flavor):
    x = k.Input((5, 3))
    states = [k.Input((4,)) for _ in range(4)]
    out = k.layers.Bidirectional(k.layers.LSTM(4))(x, initial_state=states)
    return k.Model([x] + states, out)


# -- masks -----------------------------------------------------------------------------------

@case("mask_lstm_right_padded", data="right_padded")
def _mask_right(k, flavor):
    return _seq(k, (7, 3), k.layers.Masking(0.0), k.layers.LSTM(5, return_sequences=True), k.layers.LSTM(4), k.layers.Dense(2))


@case("mask_gru_left_padded", data="left_padded")
def _mask_left(k, flavor):
    return _seq(k, (7, 3), k.layers.Masking(0.0), k.layers.GRU(5, return_sequences=True), k.layers.Dense(2))


@case("mask_simple_rnn_backwards", data="right_padded")
def _mask_back(k, flavor):
    return _seq(k, (7, 3), k.layers.Masking(0.0), k.layers.SimpleRNN(4, go_backwards=True, return_sequences=True))


@case("mask_zero_output", data="right_padded")
def _mask_zero_out(k, flavor):
    return _seq(k, (7, 3), k.layers.Masking(0.0), k.layers.LSTM(4, return_sequences=True, zero_output_for_mask=True))


@case("mask_bidirectional_lstm", data="right_padded")
def _mask_bidi(k, flavor):
    return _seq(k, (7, 3), k.layers.Masking(0.0), k.layers.Bidirectional(k.layers.LSTM(4, return_sequences=True)),
                k.layers.Bidirectional(k.layers.GRU(3), merge_mode="ave"), k.layers.Dense(2))


@case("mask_bidirectional_left_padded_sequences", data="left_padded")
def _mask_bidi_left(k, flavor):
    x = k.Input((7, 3))
    outs = k.layers.Bidirectional(k.layers.GRU(4, return_sequences=True), merge_mode=None)(k.layers.Masking(0.0)(x))
    return k.Model(x, list(outs))


@case("mask_pooling_and_dense", data="right_padded")
def _mask_pool(k, flavor):
    x = k.Input((7, 3))
    masked = k.layers.Masking(0.0)(x)
    h = k.layers.Dense(5, activation="tanh")(masked)
    return k.Model(x, [k.layers.GlobalAveragePooling1D()(h), k.layers.GlobalMaxPooling1D()(h)])


@case("mask_through_merges", data="right_padded")
def _mask_merge(k, flavor):
    x = k.Input((7, 3))
    masked = k.layers.Masking(0.0)(x)
    a = k.layers.LSTM(4, return_sequences=True)(masked)
    b = k.layers.GRU(4, return_sequences=True)(masked)
    joined = k.layers.Concatenate()([k.layers.Add()([a, b]), k.layers.Multiply()([a, b])])
    return k.Model(x, k.layers.LSTM(3)(joined))


@case("embedding_mask_zero_lstm", data="tokens")
def _emb_mask(k, flavor):
    x = k.Input((8,), dtype="int32")
    h = k.layers.Embedding(20, 6, mask_zero=True)(x)
    h = k.layers.LSTM(5, return_sequences=True)(h)
    return k.Model(x, k.layers.GlobalAveragePooling1D()(h))


@case("embedding_gru_classifier", data="tokens")
def _emb(k, flavor):
    x = k.Input((None,), dtype="int32")
    h = k.layers.Embedding(20, 4)(x)
    return k.Model(x, k.layers.Dense(3, activation="softmax")(k.layers.GRU(6)(h)))


@case("embedding_mask_bidirectional", data="tokens")
def _emb_bidi(k, flavor):
    x = k.Input((8,), dtype="int32")
    h = k.layers.Embedding(20, 5, mask_zero=True)(x)
    h = k.layers.Bidirectional(k.layers.LSTM(4))(h)
    return k.Model(x, k.layers.Dense(1)(h))


# -- Conv1D and pooling ------------------------------------------------------------------------

CONV = {
    "valid": {}, "same_strided": {"padding": "same", "strides": 2}, "causal_dilated": {"padding": "causal", "dilation_rate": 2},
    "valid_strided_relu": {"strides": 3, "activation": "relu"}, "same_dilated_no_bias": {"padding": "same", "dilation_rate": 3, "use_bias": False},
    "groups": {"groups": 2, "padding": "same"},
}


def _conv(options):
    def build(k, flavor):
        return _seq(k, (11, 4), k.layers.Conv1D(6, 3, **options))
    return build


for _variant, _options in CONV.items():
    case(f"conv1d_{_variant}")(_conv(_options))


@case("separable_conv1d")
def _sep(k, flavor):
    return _seq(k, (11, 4), k.layers.SeparableConv1D(5, 3, depth_multiplier=2, padding="same", activation="tanh"))


@case("separable_conv1d_strided")
def _sep2(k, flavor):
    return _seq(k, (11, 4), k.layers.SeparableConv1D(3, 2, strides=2, use_bias=False))


@case("depthwise_conv1d")
def _dw(k, flavor):
    return _seq(k, (11, 4), k.layers.DepthwiseConv1D(3, depth_multiplier=2, strides=2))


@case("depthwise_conv1d_same")
def _dw2(k, flavor):
    return _seq(k, (11, 4), k.layers.DepthwiseConv1D(4, padding="same", activation="relu"))


POOL = {
    "max_valid": ("MaxPooling1D", {"pool_size": 2}), "max_same_strided": ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}),
    "average_valid": ("AveragePooling1D", {"pool_size": 3}),
    "average_same": ("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}),
    "global_max": ("GlobalMaxPooling1D", {}), "global_average_keepdims": ("GlobalAveragePooling1D", {"keepdims": True}),
    "global_average_channels_first": ("GlobalAveragePooling1D", {"data_format": "channels_first"}),
    "max_channels_first": ("MaxPooling1D", {"pool_size": 2, "data_format": "channels_first"}),
}


def _pool(layer, options):
    def build(k, flavor):
        return _seq(k, (11, 4), k.layers.Dense(4), getattr(k.layers, layer)(**options))
    return build


for _variant, (_layer, _options) in POOL.items():
    case(f"pooling_{_variant}")(_pool(_layer, _options))


@case("shape_layers_chain")
def _shapes(k, flavor):
    return _seq(k, (6, 3), k.layers.UpSampling1D(2), k.layers.ZeroPadding1D((1, 2)), k.layers.Cropping1D((2, 1)),
                k.layers.Permute((2, 1)), k.layers.Dense(4), k.layers.Permute((2, 1)), k.layers.LSTM(3))


@case("conv_bidirectional_lstm_dense")
def _conv_bilstm(k, flavor):
    return _seq(k, (20, 4), k.layers.Conv1D(8, 3, padding="causal", activation="relu"), k.layers.MaxPooling1D(2),
                k.layers.Bidirectional(k.layers.LSTM(6)), k.layers.Dense(1))


# -- normalization ---------------------------------------------------------------------------

@case("batch_normalization")
def _bn(k, flavor):
    return _seq(k, (6, 4), k.layers.Conv1D(5, 2), k.layers.BatchNormalization(), k.layers.LSTM(3), k.layers.BatchNormalization(center=False))


@case("batch_normalization_time_axis")
def _bn_axis(k, flavor):
    return _seq(k, (6, 4), k.layers.BatchNormalization(axis=1, scale=False, epsilon=0.01), k.layers.GRU(3))


@case("layer_normalization")
def _ln(k, flavor):
    return _seq(k, (6, 4), k.layers.Dense(5), k.layers.LayerNormalization(), k.layers.LSTM(3), k.layers.LayerNormalization(center=False, epsilon=1e-5))


@case("layer_normalization_two_axes")
def _ln_axes(k, flavor):
    return _seq(k, (6, 4), k.layers.LayerNormalization(axis=[1, 2], scale=False))


@case("layer_normalization_rms_scaling", flavors=("keras3",))
def _ln_rms(k, flavor):
    return _seq(k, (6, 4), k.layers.LayerNormalization(rms_scaling=True))


@case("unit_normalization")
def _unit(k, flavor):
    return _seq(k, (6, 4), k.layers.Dense(5), k.layers.UnitNormalization(), k.layers.UnitNormalization(axis=[1, 2]))


@case("group_normalization")
def _group_norm(k, flavor):
    return _seq(k, (6, 8), k.layers.Dense(8), k.layers.GroupNormalization(groups=4), k.layers.LSTM(3))


@case("group_normalization_images")
def _group_norm_images(k, flavor):
    return _seq(k, (7, 7, 3), k.layers.Conv2D(6, 3), k.layers.GroupNormalization(groups=3, epsilon=1e-5),
                k.layers.GroupNormalization(groups=-1, center=False), k.layers.GlobalAveragePooling2D(), k.layers.Dense(2))


@case("group_normalization_axis1_one_group")
def _group_norm_axis(k, flavor):
    return _seq(k, (6, 4), k.layers.Dense(5), k.layers.GroupNormalization(groups=2, axis=1, scale=False),
                k.layers.Flatten(), k.layers.Dense(6), k.layers.GroupNormalization(groups=1), k.layers.Dense(2))


@case("group_normalization_3d")
def _group_norm_3d(k, flavor):
    return _seq(k, (4, 4, 4, 4), k.layers.Dense(4), k.layers.GroupNormalization(groups=2, center=False, scale=False),
                k.layers.Dense(2))


@case("normalization_adapted", adapt=True)
def _norm(k, flavor):
    return _seq(k, (6, 3), k.layers.Normalization(axis=-1), k.layers.LSTM(4))


@case("normalization_given_statistics")
def _norm_given(k, flavor):
    return _seq(k, (6, 3), k.layers.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]), k.layers.GRU(3))


@case("normalization_invert", adapt=True)
def _norm_invert(k, flavor):
    return _seq(k, (6, 3), k.layers.Normalization(axis=-1, invert=True))


# -- merges ----------------------------------------------------------------------------------

@case("merge_layers")
def _merges(k, flavor):
    a = k.Input((5, 4), name="a")
    b = k.Input((5, 4), name="b")
    c = k.Input((5, 4), name="c")
    outs = [
        k.layers.Subtract()([a, b]), k.layers.Multiply()([a, b, c]), k.layers.Average()([a, b, c]),
        k.layers.Maximum()([a, b]), k.layers.Minimum()([b, c]), k.layers.Concatenate(axis=1)([a, c]),
        k.layers.Dot(axes=2)([a, b]), k.layers.Dot(axes=1, normalize=True)([b, c]),
    ]
    return k.Model([a, b, c], outs)


@case("merge_broadcast_ranks")
def _merges_broadcast(k, flavor):
    # issue 19: inputs of lower rank get axes of 1 after the batch axis, then broadcast
    a = k.Input((12,), name="a")
    b = k.Input((10, 12), name="b")
    c = k.Input((1, 12), name="c")
    d = k.Input((10, 1), name="d")
    code = k.layers.Dense(12)(a)
    outs = [
        k.layers.Add()([a, b]), k.layers.Subtract()([b, code]), k.layers.Multiply()([code, b, c]),
        k.layers.Average()([a, d]), k.layers.Maximum()([c, d]), k.layers.Minimum()([a, b, d]),
        k.layers.Dense(3)(k.layers.Add()([k.layers.Dense(12)(b), code])),
    ]
    return k.Model([a, b, c, d], outs)


@case("merge_broadcast_rank4")
def _merges_broadcast_rank4(k, flavor):
    x = k.Input((3, 4, 5), name="x")
    v = k.Input((5,), name="v")
    s = k.Input((4, 1), name="s")
    return k.Model([x, v, s], [k.layers.Multiply()([v, x, s]), k.layers.Subtract()([s, x]), k.layers.Maximum()([v, s])])


@case("merge_broadcast_masked", data="right_padded")
def _merges_broadcast_masked(k, flavor):
    # a masked sequence merged with an unmasked vector: Keras 3's Multiply / Maximum keep the
    # sequence's masked steps out, Keras 2's ignore them; the merge's mask (Keras 2) reaches the LSTM
    x = k.Input((7, 3), name="x")
    v = k.Input((4,), name="v")
    seq = k.layers.LSTM(4, return_sequences=True)(k.layers.Masking(0.0)(x))
    merged = [k.layers.Multiply()([v, seq]), k.layers.Maximum()([seq, v]), k.layers.Add()([v, seq])]
    return k.Model([x, v], [k.layers.LSTM(3)(m) for m in merged] + merged)


@case("dot_vectors")
def _dot(k, flavor):
    a = k.Input((6,))
    b = k.Input((6,))
    return k.Model([a, b], k.layers.Dot(axes=-1)([k.layers.Dense(4)(a), k.layers.Dense(4)(b)]))


# -- attention -------------------------------------------------------------------------------

@case("attention_dot")
def _att(k, flavor):
    q = k.Input((5, 4), name="query")
    v = k.Input((6, 4), name="value")
    return k.Model([q, v], k.layers.Attention()([q, v]))


@case("attention_scaled_with_key")
def _att_key(k, flavor):
    q, v, key = k.Input((5, 4)), k.Input((6, 4)), k.Input((6, 4))
    return k.Model([q, v, key], k.layers.Attention(use_scale=True)([q, v, key]))


@case("attention_concat_score_causal")
def _att_concat(k, flavor):
    x = k.Input((6, 4))
    h = k.layers.Dense(4)(x)
    return k.Model(x, k.layers.Attention(score_mode="concat", use_scale=True)([h, h], use_causal_mask=True))


@case("additive_attention")
def _add_att(k, flavor):
    q, v = k.Input((5, 4)), k.Input((6, 4))
    return k.Model([q, v], k.layers.AdditiveAttention()([q, v]))


@case("attention_with_mask", data="tokens")
def _att_mask(k, flavor):
    x = k.Input((8,), dtype="int32")
    h = k.layers.Embedding(20, 4, mask_zero=True)(x)
    attended = k.layers.Attention()([h, h])
    return k.Model(x, k.layers.GlobalAveragePooling1D()(attended))


@case("multi_head_attention_self")
def _mha(k, flavor):
    x = k.Input((6, 8))
    return k.Model(x, k.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x))


@case("multi_head_attention_cross_key_causal")
def _mha_cross(k, flavor):
    q, v, key = k.Input((5, 8)), k.Input((6, 6)), k.Input((6, 6))
    return k.Model([q, v, key], k.layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=3)(q, v, key))


@case("multi_head_attention_causal_no_bias")
def _mha_causal(k, flavor):
    x = k.Input((6, 8))
    mha = k.layers.MultiHeadAttention(num_heads=2, key_dim=3, use_bias=False, output_shape=5)
    return k.Model(x, mha(x, x, use_causal_mask=True))


@case("rescaling_identity_dense")
def _rescaling(k, flavor):
    return _seq(k, (6, 4), k.layers.Rescaling(0.5, offset=-1.0), k.layers.Identity(), k.layers.Dense(3))


@case("rescaling_per_channel_lstm")
def _rescaling_channels(k, flavor):
    return _seq(k, (6, 4), k.layers.Rescaling([0.5, 1.0, 2.0, -1.5], offset=[1.0, 0.0, -0.5, 0.25]), k.layers.LSTM(3))


@case("multi_head_attention_attention_mask")
def _mha_attention_mask(k, flavor):
    # the mask input holds token-like ids, 0 on the rows past a random length: those queries see no key
    x, allowed = k.Input((6, 8)), k.Input((6, 6), dtype="int32")
    return k.Model([x, allowed], k.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x, attention_mask=allowed))


@case("multi_head_attention_value_key_masks", flavors=("keras3",))
def _mha_value_key_masks(k, flavor):
    q, v, key, keep = k.Input((5, 8)), k.Input((6, 6)), k.Input((6, 6)), k.Input((6,), dtype="int32")
    return k.Model([q, v, key, keep], k.layers.MultiHeadAttention(num_heads=2, key_dim=3)(q, v, key, value_mask=keep,
                                                                                          key_mask=keep))


@case("transformer_block_masked", data="tokens")
def _transformer(k, flavor):
    x = k.Input((8,), dtype="int32")
    h = k.layers.Embedding(20, 8, mask_zero=True)(x)
    attended = k.layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    h = k.layers.LayerNormalization()(k.layers.Add()([h, attended]))
    h = k.layers.LayerNormalization()(k.layers.Add()([h, k.layers.Dense(8)(k.layers.Dense(16, activation="gelu")(h))]))
    return k.Model(x, k.layers.Dense(2)(k.layers.GlobalAveragePooling1D()(h)))


# -- RNN around cells ----------------------------------------------------------------------------

def _rnn_cell(cell_name, options):
    def build(k, flavor):
        return _seq(k, (6, 3), k.layers.RNN(getattr(k.layers, cell_name)(5), **options))
    return build


for _cell in ("SimpleRNNCell", "LSTMCell", "GRUCell"):
    case(f"rnn_{_cell.lower()}")(_rnn_cell(_cell, {}))
case("rnn_lstmcell_backwards_sequences")(_rnn_cell("LSTMCell", {"go_backwards": True, "return_sequences": True}))


@case("rnn_stacked_cells_state")
def _stacked_cells(k, flavor):
    x = k.Input((6, 3))
    cells = [k.layers.LSTMCell(5), k.layers.GRUCell(4, reset_after=False), k.layers.SimpleRNNCell(3)]
    outs = k.layers.RNN(cells, return_state=True, return_sequences=True)(x)
    return k.Model(x, _flatten(outs))


def _flatten(items):
    """Keras returns stacked-cell states nested: [y, [h0, c0], [h1], ...] -> flat."""
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in _flatten(item)]
    return [items]


# -- nested models and shared layers -----------------------------------------------------------

@case("nested_sequential_shared")
def _nested(k, flavor):
    encoder = k.Sequential([k.Input((5, 3)), k.layers.LSTM(4), k.layers.Dense(3)], name="encoder")
    a, b = k.Input((5, 3), name="a"), k.Input((5, 3), name="b")
    return k.Model([a, b], k.layers.Subtract()([encoder(a), encoder(b)]))


@case("nested_functional")
def _nested_functional(k, flavor):
    x = k.Input((5, 3))
    inner_out = k.layers.GRU(4, return_sequences=True)(x)
    inner = k.Model(x, k.layers.Dense(2)(inner_out), name="inner")
    y = k.Input((5, 3))
    return k.Model(y, k.layers.LSTM(3)(inner(y)))


@case("nested_autoencoder")
def _nested_autoencoder(k, flavor):
    # frugally-deep's autoencoder: two Functional models called in a row; the output is the decoder's
    image = k.Input((12,), name="input_img")
    encoder = k.Model(image, k.layers.Dense(4, activation="relu")(image), name="encoder")
    code = k.Input((4,), name="input_encoded")
    decoder = k.Model(code, k.layers.Dense(12, activation="sigmoid")(code), name="decoder")
    x = k.Input((12,), name="autoencoder_input")
    return k.Model(x, decoder(encoder(x)), name="autoencoder")


@case("nested_three_deep_shared")
def _nested_deep(k, flavor):
    # Functional in Functional in Functional; the middle model, holding a Sequential with
    # BatchNormalization, called twice; a Sequential holding a Functional; outputs of nested models
    a = k.Input((6,))
    inner = k.Model(a, k.layers.Dense(5)(k.layers.BatchNormalization()(k.layers.Dense(4)(a))), name="inner")
    block = k.Sequential([k.Input((5,)), k.layers.Dense(5, activation="tanh"), k.layers.BatchNormalization()], name="block")
    b = k.Input((6,))
    h = inner(b)
    middle = k.Model(b, [k.layers.Add()([block(h), h]), h], name="middle")
    c = k.Input((5,))
    head = k.Sequential([k.Input((5,)), k.Model(c, k.layers.Dense(3)(c), name="projection"), k.layers.Dense(2)], name="head")
    x = k.Input((6,), name="x")
    y, y_inner = middle(x)
    z, _ = middle(k.layers.Dense(6)(x))
    return k.Model(x, [head(y), z, k.layers.Subtract()([y, z]), y_inner])


@case("nested_sequential_in_sequential")
def _nested_sequentials(k, flavor):
    inner = k.Sequential([k.Input((4, 3)), k.layers.LSTM(5, return_sequences=True), k.layers.BatchNormalization()], name="inner")
    middle = k.Sequential([k.Input((4, 3)), inner, k.layers.GRU(3)], name="middle")
    return k.Sequential([k.Input((4, 3)), middle, k.layers.Dense(2)])


@case("nested_wrappers_frozen")
def _nested_wrappers(k, flavor):
    # .h5 lists a nested model's trainable weights first: the frozen Dense's and the moving
    # statistics come after the others; a Sequential without an Input, built when called
    a = k.Input((5, 3))
    h = k.layers.TimeDistributed(k.layers.Dense(3))(k.layers.Bidirectional(k.layers.LSTM(4, return_sequences=True))(a))
    frozen = k.layers.Dense(3, name="frozen_dense")
    inner = k.Model(a, frozen(k.layers.BatchNormalization()(h)), name="inner")
    frozen.trainable = False
    lazy = k.Sequential([k.layers.Dense(4), k.layers.BatchNormalization(), k.layers.Dense(2)], name="lazy")
    x = k.Input((5, 3))
    return k.Model(x, [lazy(inner(x)), inner(x)])


@case("shared_layers")
def _shared(k, flavor):
    a, b = k.Input((5, 3), name="a"), k.Input((5, 3), name="b")
    lstm = k.layers.LSTM(4, name="shared_lstm")
    dense = k.layers.Dense(2, name="shared_dense")
    return k.Model([a, b], [dense(lstm(a)), dense(lstm(b)), k.layers.Concatenate()([lstm(a), lstm(b)])])


@case("shared_sequence_layers")
def _shared_sequences(k, flavor):
    # one return_sequences layer of each kind called twice on the same batch size: both calls'
    # sequences are alive together (a reused step kernel must not write into the first)
    a, b = k.Input((5, 3), name="a"), k.Input((5, 3), name="b")
    outputs = []
    for layer in (k.layers.SimpleRNN(4, return_sequences=True), k.layers.LSTM(4, return_sequences=True),
                  k.layers.GRU(4, return_sequences=True)):
        outputs.append(k.layers.Concatenate()([layer(a), layer(b)]))
    return k.Model([a, b], outputs)


# -- stateful ----------------------------------------------------------------------------------

@case("stateful_lstm", stateful=True)
def _stateful_lstm(k, flavor):
    return k.Sequential([k.Input(batch_shape=(4, 3, 2)), k.layers.LSTM(5, stateful=True, return_sequences=True),
                         k.layers.GRU(3, stateful=True), k.layers.Dense(1)])


@case("stateful_simple_rnn_free_time", stateful=True)
def _stateful_free(k, flavor):
    return k.Sequential([k.Input(batch_shape=(4, None, 2)), k.layers.SimpleRNN(4, stateful=True, return_sequences=True),
                         k.layers.Dense(2)])


# -- a custom layer with a registered NumPy implementation (tests/custom_layers.py) ------------

_CUSTOM_CLASSES: dict = {}


def scale_shift_layer(k):
    """The Keras custom layer (registered as zoo>ScaleShift), made once per Keras module."""
    if id(k) not in _CUSTOM_CLASSES:
        @k.saving.register_keras_serializable(package="zoo")
        class ScaleShift(k.layers.Layer):
            def __init__(self, factor=2.0, **kwargs):
                super().__init__(**kwargs)
                self.factor = factor

            def build(self, input_shape):
                self.shift = self.add_weight(name="shift", shape=(input_shape[-1],), initializer="zeros")

            def call(self, x):
                return x * self.factor + self.shift

            def get_config(self):
                return {**super().get_config(), "factor": self.factor}

        _CUSTOM_CLASSES[id(k)] = ScaleShift
    return _CUSTOM_CLASSES[id(k)]


@case("custom_layer_registered")
def _custom_registered(k, flavor):
    return _seq(k, (5, 3), k.layers.LSTM(4, return_sequences=True), scale_shift_layer(k)(factor=-1.5), k.layers.Dense(2))


# -- activation layers (issue 14) -----------------------------------------------------------------

@case("prelu_shared_axes")
def _prelu(k, flavor):
    x = k.Input((5, 4))
    h = k.layers.Dense(4)(x)
    return k.Model(x, [k.layers.PReLU()(h), k.layers.PReLU(shared_axes=[1])(h)])


@case("thresholded_relu", flavors=("tf_keras",))  # Keras 3 has no ThresholdedReLU layer
def _thresholded(k, flavor):
    return _seq(k, (6,), k.layers.Dense(8), k.layers.ThresholdedReLU(theta=0.3))


@case("softmax_with_mask", data="tokens")
def _softmax_mask(k, flavor):
    # a propagated (batch, time) mask reaching a Softmax over the time axis of (batch, time) scores
    x = k.Input((6,), dtype="int32")
    scores = k.layers.Reshape((6,))(k.layers.Dense(1)(k.layers.Embedding(20, 4, mask_zero=True)(x)))
    return k.Model(x, k.layers.Softmax()(scores))


@case("softmax_explicit_mask")
def _softmax_explicit(k, flavor):
    x, keep = k.Input((5, 6)), k.Input((5, 6), dtype="int32")
    out = k.layers.Softmax(axis=-1)(k.layers.Dense(6)(x), mask=keep)
    return k.Model([x, keep], k.layers.Reshape((30,))(out))  # Reshape ends the mask (Keras's loss would read it)


@case("mask_ends_at_conv_flatten_reshape", data="tokens")
def _mask_ends(k, flavor):
    # Keras ends a mask at Conv1D, Reshape, Flatten (and tf.keras at Rescaling): the LSTMs after them see none
    x = k.Input((6,), dtype="int32")
    e = k.layers.Embedding(20, 4, mask_zero=True)(x)
    conv = k.layers.LSTM(3)(k.layers.Conv1D(4, 2, padding="same")(e))
    reshaped = k.layers.LSTM(3)(k.layers.Reshape((6, 4))(e))
    rescaled = k.layers.LSTM(3)(k.layers.Rescaling(2.0)(e))
    flat = k.layers.Dense(2)(k.layers.Flatten()(e))
    return k.Model(x, [conv, reshaped, rescaled, flat])


# -- preprocessing layers (issue 14) -------------------------------------------------------------

@case("category_encoding_modes")
def _category_encoding(k, flavor):
    x = k.Input((4,), dtype="int32")  # token ids 0..19
    one = k.Input((1,), dtype="int32")
    return k.Model([x, one], [k.layers.CategoryEncoding(20, output_mode="multi_hot")(x),
                              k.layers.CategoryEncoding(20, output_mode="count")(x),
                              k.layers.CategoryEncoding(20, output_mode="one_hot")(one)])


@case("discretization_embedding")
def _discretization(k, flavor):
    x = k.Input((5,))
    bins = k.layers.Discretization(bin_boundaries=[-1.0, -0.2, 0.0, 0.5, 1.5])(x)
    return k.Model(x, [k.layers.Flatten()(k.layers.Embedding(6, 3)(bins)),
                       k.layers.Discretization(bin_boundaries=[-0.5, 0.5], output_mode="count")(x)])


@case("integer_lookup")
def _integer_lookup(k, flavor):
    x = k.Input((5,), dtype="int32")  # token ids 1..19 and 0 padding
    vocabulary = [3, 7, 1, 12, 15, 4]
    lookups = [k.layers.IntegerLookup(vocabulary=vocabulary)(x),
               k.layers.IntegerLookup(vocabulary=vocabulary, mask_token=0, num_oov_indices=2)(x),
               k.layers.IntegerLookup(vocabulary=vocabulary, output_mode="multi_hot")(x)]
    return k.Model(x, [k.layers.Flatten()(k.layers.Embedding(10, 2)(lookups[0])), k.layers.Flatten()(k.layers.Embedding(10, 2)(lookups[1])),
                       lookups[2]])


@case("center_crop_resizing")
def _image_preprocessing(k, flavor):
    x = k.Input((9, 8, 3))
    outputs = [k.layers.CenterCrop(5, 4)(x), k.layers.Resizing(6, 11)(x), k.layers.Resizing(4, 5, interpolation="nearest")(x),
               k.layers.Resizing(13, 7, interpolation="nearest")(x),
               k.layers.Resizing(4, 7, crop_to_aspect_ratio=True)(x),  # a 9 x 8 image cropped to 4:7 (4 x 8), then resized
               k.layers.Resizing(7, 3, crop_to_aspect_ratio=True, interpolation="nearest")(x),
               k.layers.Resizing(5, 13, interpolation="bicubic")(x), k.layers.Resizing(4, 3, interpolation="bicubic")(x)]
    if flavor == "keras3":  # tf-keras has no pad_to_aspect_ratio
        outputs += [k.layers.Resizing(5, 9, pad_to_aspect_ratio=True)(x), k.layers.Resizing(6, 3, pad_to_aspect_ratio=True, fill_value=2.5)(x)]
    return k.Model(x, outputs)


@case("refuse_resizing_lanczos3", refuse=("UnsupportedOptionError", "interpolation='lanczos3' is not supported; supported: bilinear, nearest, bicubic"))
def _resizing_lanczos3(k, flavor):
    x = k.Input((9, 8, 3))
    return k.Model(x, k.layers.Resizing(4, 5, interpolation="lanczos3")(x))


@case("refuse_string_lookup", refuse=("UnsupportedLayerError", "looks up strings"))
def _string_lookup(k, flavor):
    x = k.Input((3,), dtype="string")
    return k.Model(x, k.layers.StringLookup(vocabulary=["a", "b"])(x))


# -- layers that do nothing at inference -----------------------------------------------------

@case("identity_at_inference_sequence", data="right_padded")
def _identity_sequence(k, flavor):
    return _seq(k, (6, 4), k.layers.Masking(), k.layers.Dense(5), k.layers.ActivityRegularization(l1=0.01, l2=0.01),
                k.layers.SpatialDropout1D(0.4), k.layers.GaussianNoise(0.3), k.layers.LSTM(3), k.layers.Dense(2))


@case("identity_at_inference_images")
def _identity_images(k, flavor):
    return _seq(k, (8, 8, 3), k.layers.Dense(3), k.layers.RandomFlip(), k.layers.RandomRotation(0.2),
                k.layers.RandomZoom(0.2), k.layers.RandomTranslation(0.1, 0.1), k.layers.Conv2D(4, 3),
                k.layers.SpatialDropout2D(0.3), k.layers.GlobalAveragePooling2D(), k.layers.Dense(2))


@case("identity_at_inference_contrast_brightness", no_h5=("keras3",))
def _identity_color(k, flavor):
    # RandomContrast first: tf-keras has no gradient for it, so nothing trainable may come before it.
    return _seq(k, (8, 8, 3), k.layers.RandomContrast(0.3), k.layers.Dense(3),
                k.layers.RandomBrightness(0.2, value_range=(-3, 3)), k.layers.Flatten(), k.layers.Dense(2))


@case("identity_at_inference_volumes")
def _identity_volumes(k, flavor):
    return _seq(k, (4, 4, 4, 2), k.layers.Dense(3), k.layers.SpatialDropout3D(0.5), k.layers.Dense(2))


@case("identity_at_inference_height_width", flavors=("tf_keras",))  # Keras 3 has no RandomHeight / RandomWidth
def _identity_height_width(k, flavor):
    return _seq(k, (8, 8, 3), k.layers.Dense(3), k.layers.RandomHeight(0.2), k.layers.RandomWidth(0.2),
                k.layers.GlobalMaxPooling2D(), k.layers.Dense(2))


@case("identity_at_inference_keras3_augmentations", flavors=("keras3",), no_h5=("keras3",))  # tf-keras has none of these
def _identity_keras3(k, flavor):
    unit = {"value_range": (0, 1)}
    return _seq(k, (8, 8, 3), k.layers.Dense(3, activation="sigmoid"),
                k.layers.RandomColorDegeneration(0.5, **unit), k.layers.RandomColorJitter(**unit, brightness_factor=0.2),
                k.layers.RandomElasticTransform(**unit), k.layers.RandomErasing(**unit), k.layers.RandomGaussianBlur(**unit),
                k.layers.RandomGrayscale(0.5), k.layers.RandomHue(0.5, **unit), k.layers.RandomInvert(**unit),
                k.layers.RandomPerspective(), k.layers.RandomPosterization(4, **unit), k.layers.RandomSaturation(0.5, **unit),
                k.layers.RandomSharpness(0.5, **unit), k.layers.RandomShear(0.2, 0.2), k.layers.Solarization(0.5, **unit),
                k.layers.AugMix(**unit), k.layers.RandAugment(**unit), k.layers.CutMix(), k.layers.MixUp(), k.layers.Dense(4), k.layers.Flatten(), k.layers.Dense(2))


@case("refuse_random_crop", refuse=("UnsupportedLayerError", "RandomCrop) is not supported by npinfer: it is not the identity"))
def _random_crop(k, flavor):
    return _seq(k, (8, 8, 3), k.layers.RandomCrop(6, 6), k.layers.GlobalAveragePooling2D(), k.layers.Dense(2))
