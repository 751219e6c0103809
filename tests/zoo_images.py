"""Zoo cases over 2 and 3 spatial axes (issue 14): convolutions (plain, transposed, depthwise,
separable; strides, padding, dilation, groups, data formats), pooling, padding, cropping and
upsampling, and a small CNN. Imported by zoo.py."""

from __future__ import annotations

from zoo import _seq, case

# channels_first: TensorFlow runs such convolutions on a GPU only (the torch and ONNX tests cover them, NCHW),
# pooling Keras 3 transposes for it
K3 = ("keras3",)


@case("conv2d_valid_relu")
def _conv2d_valid(k, flavor):
    return _seq(k, (8, 7, 3), k.layers.Conv2D(4, 3, activation="relu"))


@case("conv2d_same_strided")
def _conv2d_same(k, flavor):
    return _seq(k, (8, 7, 3), k.layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same"))


@case("conv2d_dilated_no_bias")
def _conv2d_dilated(k, flavor):
    return _seq(k, (9, 8, 2), k.layers.Conv2D(3, 3, dilation_rate=(2, 1), padding="same", use_bias=False))


@case("conv2d_groups")
def _conv2d_groups(k, flavor):
    return _seq(k, (6, 6, 4), k.layers.Conv2D(6, 3, groups=2, padding="same"))


@case("conv3d_same_strided")
def _conv3d(k, flavor):
    return _seq(k, (4, 6, 5, 2), k.layers.Conv3D(3, (2, 3, 3), strides=(1, 2, 1), padding="same", activation="tanh"))


@case("conv1d_transpose_strided")
def _conv1d_transpose(k, flavor):
    return _seq(k, (7, 3), k.layers.Conv1DTranspose(4, 3, strides=2), k.layers.Conv1DTranspose(2, 2, strides=3, padding="same"))


@case("conv2d_transpose_same")
def _conv2d_transpose(k, flavor):
    return _seq(k, (5, 4, 3), k.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"))


@case("conv2d_transpose_output_padding")
def _conv2d_transpose_padded(k, flavor):
    return _seq(k, (5, 4, 3), k.layers.Conv2DTranspose(3, (3, 2), strides=(2, 3), output_padding=(1, 2)),
                k.layers.Conv2DTranspose(2, 3, padding="same", output_padding=0, use_bias=False))


@case("conv2d_transpose_dilated", flavors=("tf_keras",))  # Keras 3's TensorFlow backend runs no dilated transpose on a CPU
def _conv2d_transpose_dilated(k, flavor):
    return _seq(k, (5, 4, 3), k.layers.Conv2DTranspose(2, 3, dilation_rate=2, use_bias=False))


@case("conv3d_transpose")
def _conv3d_transpose(k, flavor):
    return _seq(k, (3, 4, 3, 2), k.layers.Conv3DTranspose(2, 2, strides=(1, 2, 2), padding="same"))


@case("depthwise_conv2d")
def _depthwise2d(k, flavor):
    return _seq(k, (8, 7, 3), k.layers.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same"),
                k.layers.DepthwiseConv2D((2, 3), activation="relu"))


@case("separable_conv2d")
def _separable2d(k, flavor):
    return _seq(k, (8, 7, 3), k.layers.SeparableConv2D(5, 3, depth_multiplier=2, activation="relu"),
                k.layers.SeparableConv2D(2, (2, 2), strides=2, padding="same", use_bias=False))


@case("pooling2d")
def _pooling2d(k, flavor):
    x = k.Input((9, 8, 3))
    h = k.layers.Conv2D(4, 2)(x)
    return k.Model(x, [k.layers.MaxPooling2D()(h), k.layers.AveragePooling2D((3, 2), strides=(2, 1), padding="same")(h),
                       k.layers.MaxPooling2D(3, strides=2, padding="same")(h), k.layers.GlobalMaxPooling2D()(h),
                       k.layers.GlobalAveragePooling2D(keepdims=True)(h)])


@case("pooling2d_channels_first", flavors=K3)
def _pooling2d_first(k, flavor):
    x = k.Input((3, 9, 8))
    return k.Model(x, [k.layers.MaxPooling2D(2, data_format="channels_first")(x),
                       k.layers.AveragePooling2D(3, strides=2, padding="same", data_format="channels_first")(x),
                       k.layers.GlobalAveragePooling2D(data_format="channels_first")(x)])


@case("pooling3d")
def _pooling3d(k, flavor):
    x = k.Input((5, 6, 4, 2))
    return k.Model(x, [k.layers.MaxPooling3D((2, 2, 1))(x), k.layers.AveragePooling3D(2, strides=(1, 2, 2), padding="same")(x),
                       k.layers.GlobalMaxPooling3D(keepdims=True)(x), k.layers.GlobalAveragePooling3D()(x)])


@case("padding_cropping_upsampling2d")
def _reshaping2d(k, flavor):
    x = k.Input((5, 6, 2))
    h = k.layers.ZeroPadding2D(((1, 2), (0, 1)))(x)
    h = k.layers.Cropping2D(((1, 0), (2, 1)))(h)
    return k.Model(x, [k.layers.UpSampling2D((2, 3))(h), k.layers.UpSampling2D(2, interpolation="bilinear")(h),
                       k.layers.UpSampling2D((3, 2), interpolation="bicubic")(h), k.layers.ZeroPadding2D(1)(x), k.layers.Cropping2D(1)(x)])


@case("padding_cropping_upsampling3d")
def _reshaping3d(k, flavor):
    x = k.Input((3, 4, 5, 2))
    h = k.layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)))(x)
    return k.Model(x, [k.layers.UpSampling3D((1, 2, 2))(h), k.layers.Cropping3D(((0, 1), (1, 1), (2, 0)))(h)])


@case("small_cnn")
def _small_cnn(k, flavor):
    return _seq(k, (16, 16, 3), k.layers.Conv2D(8, 3, padding="same", activation="relu"), k.layers.MaxPooling2D(),
                k.layers.Conv2D(8, 3, activation="relu"), k.layers.BatchNormalization(), k.layers.MaxPooling2D(),
                k.layers.Flatten(), k.layers.Dense(4, activation="softmax"))


# -- ConvLSTM1D / 2D / 3D: the one time loop with a convolutional cell -------------------------------

@case("conv_lstm2d_sequences")
def _conv_lstm2d(k, flavor):
    return _seq(k, (4, 6, 6, 2), k.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                k.layers.ConvLSTM2D(2, (2, 3), strides=(2, 1), recurrent_activation="hard_sigmoid"))


@case("conv_lstm2d_state_backwards")
def _conv_lstm2d_state(k, flavor):
    x = k.Input((5, 7, 6, 2))
    return k.Model(x, k.layers.ConvLSTM2D(2, (3, 2), dilation_rate=(2, 1), go_backwards=True, return_state=True,
                                          return_sequences=True, use_bias=False, activation="relu")(x))


@case("conv_lstm2d_initial_state")
def _conv_lstm2d_initial(k, flavor):
    x, h0, c0 = k.Input((3, 5, 5, 2)), k.Input((5, 5, 3)), k.Input((5, 5, 3))
    return k.Model([x, h0, c0], k.layers.ConvLSTM2D(3, 3, padding="same")(x, initial_state=[h0, c0]))


@case("conv_lstm1d_dilated")
def _conv_lstm1d(k, flavor):
    return _seq(k, (5, 9, 3), k.layers.ConvLSTM1D(4, 3, dilation_rate=2, return_sequences=True), k.layers.Flatten(),
                k.layers.Dense(2))


@case("conv_lstm3d")
def _conv_lstm3d(k, flavor):
    x = k.Input((3, 4, 4, 3, 2))
    return k.Model(x, k.layers.ConvLSTM3D(2, 2, padding="same", return_state=True)(x))


@case("conv_lstm2d_stateful", stateful=True)
def _conv_lstm2d_stateful(k, flavor):
    return k.Sequential([k.Input(batch_shape=(4, 3, 5, 5, 2)), k.layers.ConvLSTM2D(2, 3, stateful=True), k.layers.Flatten()])
