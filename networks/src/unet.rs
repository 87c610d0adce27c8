//! `unet`: a convolutional U-Net `x̂ = F(z, t)` for images (DDPM-style, sized for 28×28).
//!
//! For data items `[C, H, W]` it reads `in_channels · C` channels and writes
//! `out_channels · C` ([`NetworkIo`], class-major); only `conv_in` and `conv_out` depend on
//! them, the group normalisations act on the hidden widths only.
//!
//! `conv_in` → per level: residual blocks (time-conditioned), then a stride-2 convolution →
//! middle: residual block, self-attention, residual block → per level, mirrored: residual
//! blocks on the concatenation with the skip connection, then nearest ×2 upsampling and a
//! convolution → GroupNorm, SiLU, `conv_out`. Time enters as Fourier features through a
//! two-layer MLP, added to every residual block.
//!
//! Class-conditional ([`NetworkIo::label_classes`] `= Some(K)`): the time embedding becomes
//! `MLP(φ(t)) + e_c`, `e_c` the class's row of a `K × time_embedding` table
//! ([`ClassEmbedding`]; the null class adds zero), as in the improved-DDPM and guided-diffusion
//! U-Nets, so every residual block sees the class through its time projection.

use super::{
    ClassEmbedding, Network, NetworkConfig, NetworkIo, fourier_features, sinusoidal_embedding,
};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Dropout, DropoutConfig, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor};
use gpfn_core::{GpfnError, Result};
use gpfn_kernels::{add, add_per_channel, conv2d_module, group_norm_silu_module};
use serde::{Deserialize, Serialize};

gpfn_core::register_plugin!(
    Network,
    "unet",
    "U-Net for images: channels per level, res_blocks, attention, dropout, time_embedding"
);

/// Configuration of the `unet` network. The default (32/64/128 channels, one residual block
/// per level, attention at 7×7) has about 1.5 M parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Channel width of each resolution level (28×28, 14×14, 7×7, …).
    #[serde(default = "default_channels")]
    pub channels: Vec<usize>,
    /// Residual blocks per level.
    #[serde(default = "default_res_blocks")]
    pub res_blocks: usize,
    /// Self-attention at the lowest resolution.
    #[serde(default = "default_attention")]
    pub attention: bool,
    /// Dropout inside residual blocks.
    #[serde(default, deserialize_with = "gpfn_core::check::unit_below_one")]
    pub dropout: f64,
    /// Size of the time embedding.
    #[serde(default = "default_time_embedding")]
    pub time_embedding: usize,
    /// Groups of the group normalisations (must divide every width).
    #[serde(
        default = "default_groups",
        deserialize_with = "gpfn_core::check::at_least_one"
    )]
    pub groups: usize,
    /// What the network predicts: `x` (clean data) or `eps` (noise).
    #[serde(default)]
    pub target: super::Target,
    /// How time is encoded before the time MLP.
    #[serde(default)]
    pub time_encoding: TimeEncoding,
    /// Size of the time encoding fed to the time MLP (even); `time_embedding` when absent.
    #[serde(default)]
    pub time_features: Option<usize>,
    /// SiLU on the time embedding before each residual block's projection, as DDPM's
    /// `Linear(SiLU(temb))`; off by default (the projection sees the embedding itself).
    #[serde(default)]
    pub time_activation: bool,
    /// Residual blocks in the middle (at the lowest resolution); the attention, when on,
    /// follows the first.
    #[serde(default = "default_middle_blocks")]
    pub middle_blocks: usize,
    /// Output width of the convolution after each ×2 upsampling: `same` keeps the level's
    /// width, `next` narrows to the next (finer) level's width as DDPM-style U-Nets do.
    #[serde(default)]
    pub upsample_channels: UpsampleChannels,
}

/// The time encoding `φ(t)` of a U-Net.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeEncoding {
    /// `[sin(2π f_k t), cos(2π f_k t)]`, `f_k` geometric in `[1, 100]` ([`fourier_features`]).
    #[default]
    Fourier,
    /// DDPM's transformer embedding `[sin(1000 t ω_k), cos(1000 t ω_k)]`,
    /// `ω_k = 10000^{−k/half}` ([`super::sinusoidal_embedding`]).
    Sinusoidal,
}

/// Output width of the convolution that follows each ×2 upsampling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpsampleChannels {
    /// The level's own width.
    #[default]
    Same,
    /// The next (finer) level's width.
    Next,
}

fn default_channels() -> Vec<usize> {
    vec![32, 64, 128]
}
fn default_res_blocks() -> usize {
    1
}
fn default_attention() -> bool {
    true
}
fn default_time_embedding() -> usize {
    128
}
fn default_groups() -> usize {
    8
}
fn default_middle_blocks() -> usize {
    2
}

impl Default for UNetConfig {
    fn default() -> Self {
        UNetConfig {
            channels: default_channels(),
            res_blocks: default_res_blocks(),
            attention: default_attention(),
            dropout: 0.0,
            time_embedding: default_time_embedding(),
            groups: default_groups(),
            target: super::Target::X,
            time_encoding: TimeEncoding::Fourier,
            time_features: None,
            time_activation: false,
            middle_blocks: default_middle_blocks(),
            upsample_channels: UpsampleChannels::Same,
        }
    }
}

fn conv3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn conv1(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [1, 1]).init(device)
}

/// What every residual block of one U-Net shares.
#[derive(Clone, Copy, Debug)]
struct BlockShape {
    temb: usize,
    groups: usize,
    dropout: f64,
    time_activation: bool,
}

/// A time-conditioned residual block:
/// `h = conv(SiLU(GN(x))) + W t_emb` (`W SiLU(t_emb)` with `time_activation`),
/// `out = skip(x) + conv(dropout(SiLU(GN(h))))`.
#[derive(Module, Debug)]
pub struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    norm2: GroupNorm,
    dropout: Dropout,
    conv2: Conv2d,
    skip: Option<Conv2d>,
    #[module(skip)]
    time_activation: bool,
}

impl ResBlock {
    fn new(c_in: usize, c_out: usize, shape: &BlockShape, device: &Device) -> Self {
        let BlockShape {
            temb,
            groups,
            dropout,
            time_activation,
        } = *shape;
        ResBlock {
            time_activation,
            norm1: GroupNormConfig::new(groups, c_in).init(device),
            conv1: conv3(c_in, c_out, 1, device),
            time: LinearConfig::new(temb, c_out).init(device),
            norm2: GroupNormConfig::new(groups, c_out).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            conv2: conv3(c_out, c_out, 1, device),
            skip: (c_in != c_out).then(|| conv1(c_in, c_out, device)),
        }
    }

    fn forward(&self, x: Tensor<4>, temb: &Tensor<2>) -> Tensor<4> {
        let h = self.first_convolution(x.clone());
        self.forward_from(x, h, temb)
    }

    /// `conv(SiLU(GN(x)))`, the part of the block that does not read the time embedding.
    fn first_convolution(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d_module(&self.conv1, group_norm_silu_module(&self.norm1, x))
    }

    /// The block from `h = conv(SiLU(GN(x)))` ([`Self::first_convolution`]) on.
    fn forward_from(&self, x: Tensor<4>, h: Tensor<4>, temb: &Tensor<2>) -> Tensor<4> {
        let temb = if self.time_activation {
            silu(temb.clone())
        } else {
            temb.clone()
        };
        let h = add_per_channel(h, self.time.forward(temb));
        let h = conv2d_module(
            &self.conv2,
            self.dropout.forward(group_norm_silu_module(&self.norm2, h)),
        );
        let skip = match &self.skip {
            Some(s) => conv2d_module(s, x),
            None => x,
        };
        add(skip, h)
    }
}

/// Single-head self-attention over the pixels: `x + W_o softmax(QKᵀ/√c) V`.
#[derive(Module, Debug)]
pub struct Attention {
    norm: GroupNorm,
    qkv: Linear,
    out: Linear,
}

impl Attention {
    fn new(c: usize, groups: usize, device: &Device) -> Self {
        Attention {
            norm: GroupNormConfig::new(groups, c).init(device),
            qkv: LinearConfig::new(c, 3 * c).init(device),
            out: LinearConfig::new(c, c).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let tokens = self
            .norm
            .forward(x.clone())
            .reshape([b, c, h * w])
            .swap_dims(1, 2);
        let qkv = self.qkv.forward(tokens);
        let q = qkv.clone().narrow(2, 0, c);
        let k = qkv.clone().narrow(2, c, c);
        let v = qkv.narrow(2, 2 * c, c);
        let scores = q.matmul(k.swap_dims(1, 2)).div_scalar((c as f64).sqrt());
        let attended = softmax(scores, 2).matmul(v);
        let out = self
            .out
            .forward(attended)
            .swap_dims(1, 2)
            .reshape([b, c, h, w]);
        x + out
    }
}

/// The U-Net module.
#[derive(Module, Debug)]
pub struct UNet {
    time1: Linear,
    time2: Linear,
    conv_in: Conv2d,
    down_blocks: Vec<Vec<ResBlock>>,
    downsample: Vec<Conv2d>,
    mid1: ResBlock,
    mid_attention: Option<Attention>,
    mid2: Option<ResBlock>,
    up_blocks: Vec<Vec<ResBlock>>,
    upsample: Vec<Conv2d>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    /// The class embedding of a conditional network (visited last: an unconditional U-Net's
    /// parameters are unchanged).
    class_embedding: Option<ClassEmbedding>,
    /// The input image shape `[in_channels · C, H, W]`.
    #[module(skip)]
    shape: [usize; 3],
    /// `out_channels · C · H · W`, one output row's width.
    #[module(skip)]
    output_dim: usize,
    #[module(skip)]
    pub(crate) io: NetworkIo,
    #[module(skip)]
    time_features: usize,
    #[module(skip)]
    time_encoding: TimeEncoding,
}

#[typetag::serde(name = "unet")]
impl NetworkConfig for UNetConfig {
    fn build(&self, io: &NetworkIo, device: &Device) -> Result<Network> {
        let err = |key: &str, message: String| GpfnError::Config {
            key: format!("network.{key}"),
            message,
        };
        let data_shape = io.data_shape.as_slice();
        let shape = match data_shape {
            [c, h, w] => [*c, *h, *w],
            _ => {
                return Err(err(
                    "name",
                    format!(
                        "unet needs image data of shape [channels, height, width], got {data_shape:?}"
                    ),
                ));
            }
        };
        io.validate()?;
        let (c_in, c_out) = (io.in_channels * shape[0], io.out_channels * shape[0]);
        let levels = self.channels.len();
        if levels == 0 || self.channels.contains(&0) {
            return Err(err(
                "channels",
                format!("needs non-zero widths, got {:?}", self.channels),
            ));
        }
        if let Some(c) = self.channels.iter().find(|c| *c % self.groups.max(1) != 0) {
            return Err(err(
                "groups",
                format!("{} groups do not divide {c} channels", self.groups),
            ));
        }
        let factor = 1usize << (levels - 1);
        if shape[1] % factor != 0 || shape[2] % factor != 0 {
            return Err(err(
                "channels",
                format!(
                    "{levels} levels halve the {}×{} image {} times; the size must be divisible by {factor}",
                    shape[1],
                    shape[2],
                    levels - 1
                ),
            ));
        }
        if self.res_blocks == 0 {
            return Err(err("res_blocks", "must be ≥ 1, got 0".into()));
        }
        let time_features = self.time_features.unwrap_or(self.time_embedding);
        for (key, v) in [
            ("time_embedding", self.time_embedding),
            ("time_features", time_features),
        ] {
            if v < 2 || !v.is_multiple_of(2) {
                return Err(err(key, format!("must be an even number ≥ 2, got {v}")));
            }
        }
        if !(1..=2).contains(&self.middle_blocks) {
            return Err(err(
                "middle_blocks",
                format!("must be 1 or 2, got {}", self.middle_blocks),
            ));
        }
        let temb = self.time_embedding;
        let bs = BlockShape {
            temb,
            groups: self.groups,
            dropout: self.dropout,
            time_activation: self.time_activation,
        };
        let g = self.groups;
        let ch = &self.channels;
        let mut down_blocks = Vec::new();
        let mut skips = Vec::new();
        let mut c = ch[0];
        for (level, &width) in ch.iter().enumerate() {
            let mut blocks = Vec::new();
            for _ in 0..self.res_blocks {
                blocks.push(ResBlock::new(c, width, &bs, device));
                c = width;
            }
            skips.push(c);
            down_blocks.push(blocks);
            let _ = level;
        }
        let downsample = (0..levels - 1)
            .map(|l| conv3(ch[l], ch[l], 2, device))
            .collect();
        let top = ch[levels - 1];
        let mut up_blocks = Vec::new();
        let mut upsample = Vec::new();
        for level in (0..levels).rev() {
            let width = ch[level];
            let mut blocks = Vec::new();
            for i in 0..self.res_blocks {
                let c_in = if i == 0 { c + skips[level] } else { width };
                blocks.push(ResBlock::new(c_in, width, &bs, device));
                c = width;
            }
            up_blocks.push(blocks);
            if level > 0 {
                let out = match self.upsample_channels {
                    UpsampleChannels::Same => width,
                    UpsampleChannels::Next => ch[level - 1],
                };
                upsample.push(conv3(width, out, 1, device));
                c = out;
            }
        }
        let unet = UNet {
            time1: LinearConfig::new(time_features, temb).init(device),
            time2: LinearConfig::new(temb, temb).init(device),
            conv_in: conv3(c_in, ch[0], 1, device),
            down_blocks,
            downsample,
            mid1: ResBlock::new(top, top, &bs, device),
            mid_attention: self.attention.then(|| Attention::new(top, g, device)),
            mid2: (self.middle_blocks == 2).then(|| ResBlock::new(top, top, &bs, device)),
            up_blocks,
            upsample,
            norm_out: GroupNormConfig::new(g, ch[0]).init(device),
            conv_out: conv3(ch[0], c_out, 1, device),
            class_embedding: io
                .label_classes
                .map(|k| ClassEmbedding::new(k, temb, device)),
            shape: [c_in, shape[1], shape[2]],
            output_dim: io.output_dim(),
            io: io.clone(),
            time_features,
            time_encoding: self.time_encoding,
        };
        Ok(Network::UNet(unet))
    }

    fn target(&self) -> super::Target {
        self.target
    }

    fn uses_dropout(&self) -> bool {
        self.dropout > 0.0
    }
}

/// Nearest-neighbour ×2 upsampling, `y[n, c, i, j] = x[n, c, ⌊i/2⌋, ⌊j/2⌋]`, as burn's
/// `interpolate` (flex runs it, and its backward, over the planes in parallel; the
/// reshape–expand–reshape it replaces was a serial strided copy, ≈ 3.5 % of a training step).
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest)
            .with_align_corners(false)
            .with_output_size([2 * h, 2 * w]),
    )
}

impl UNet {
    /// `F(z, t)` for flat, class-major `z: [batch, in_channels · C·H·W]` (read as the image
    /// `[in_channels · C, H, W]`) and `t: [batch, 1]`: `[batch, out_channels · C·H·W]`.
    pub fn forward(&self, z: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        self.forward_conditional(z, t, None)
    }

    /// `F(z, t, c)`: with the class embedding added to the time embedding (`class` `None`:
    /// the null class; an unconditional U-Net ignores `class`, which its caller checks).
    pub(crate) fn forward_conditional(
        &self,
        z: Tensor<2>,
        t: Tensor<2>,
        class: Option<Tensor<1, Int>>,
    ) -> Tensor<2> {
        let device = z.device();
        let [b, _] = z.dims();
        let mut temb = self.time_mlp(t);
        if let Some(e) = &self.class_embedding {
            temb = temb + e.forward(class, b, &device);
        }
        let x = self.stem(z);
        let h = self.down_blocks[0][0].first_convolution(x.clone());
        self.forward_body(x, h, &temb)
    }

    /// `F(z_{j mod b}, t_{j mod b}, c_j)` for `z: [b, ·]`, `t: [b, 1]` and `class: [m·b]`: the
    /// batch under `m` classings at once (classifier-free guidance's `[c; ∅]`, `m = 2`). What
    /// precedes the class embedding's first use — the time MLP, the stem convolution and the
    /// first residual block's first convolution — runs once on the `b` rows and is repeated;
    /// the rest runs on `m·b` rows. Row for row the same operations as
    /// [`Self::forward_conditional`] on the repeated inputs.
    pub(crate) fn forward_repeated(
        &self,
        z: Tensor<2>,
        t: Tensor<2>,
        class: Tensor<1, Int>,
    ) -> Tensor<2> {
        let device = z.device();
        let [b, _] = z.dims();
        let [rows] = class.dims();
        let m = rows / b;
        let repeat2 = |x: Tensor<2>| Tensor::cat(vec![x; m], 0);
        let repeat4 = |x: Tensor<4>| Tensor::cat(vec![x; m], 0);
        let mut temb = repeat2(self.time_mlp(t));
        if let Some(e) = &self.class_embedding {
            temb = temb + e.forward(Some(class), rows, &device);
        }
        let x = self.stem(z);
        let h = self.down_blocks[0][0].first_convolution(x.clone());
        self.forward_body(repeat4(x), repeat4(h), &temb)
    }

    /// `MLP(φ(t))`, the time embedding before the class's row is added: `[b, time_embedding]`.
    fn time_mlp(&self, t: Tensor<2>) -> Tensor<2> {
        let device = t.device();
        let temb = match self.time_encoding {
            TimeEncoding::Fourier => fourier_features(t, self.time_features, 100.0, &device),
            TimeEncoding::Sinusoidal => sinusoidal_embedding(t, self.time_features, &device),
        };
        self.time2.forward(silu(self.time1.forward(temb)))
    }

    /// The stem convolution of flat `z: [b, in_channels · C·H·W]`: `[b, channels[0], H, W]`.
    fn stem(&self, z: Tensor<2>) -> Tensor<4> {
        let [b, _] = z.dims();
        let [c, h, w] = self.shape;
        conv2d_module(&self.conv_in, z.reshape([b, c, h, w]))
    }

    /// The network from the stem's output `x` and the first residual block's first
    /// convolution `h` of it on, with the (class-added) time embedding `temb`.
    fn forward_body(&self, x: Tensor<4>, h: Tensor<4>, temb: &Tensor<2>) -> Tensor<2> {
        let [b, _, _, _] = x.dims();
        let mut first = Some(h);
        let mut x = x;
        let mut skips = Vec::new();
        let levels = self.down_blocks.len();
        for (level, blocks) in self.down_blocks.iter().enumerate() {
            for block in blocks {
                x = match first.take() {
                    Some(h) => block.forward_from(x, h, temb),
                    None => block.forward(x, temb),
                };
            }
            skips.push(x.clone());
            if level + 1 < levels {
                x = conv2d_module(&self.downsample[level], x);
            }
        }
        x = self.mid1.forward(x, temb);
        if let Some(a) = &self.mid_attention {
            x = a.forward(x);
        }
        if let Some(m) = &self.mid2 {
            x = m.forward(x, temb);
        }
        for (i, blocks) in self.up_blocks.iter().enumerate() {
            let skip = skips.pop().expect("one skip per level");
            for (j, block) in blocks.iter().enumerate() {
                x = if j == 0 {
                    block.forward(Tensor::cat(vec![x, skip.clone()], 1), temb)
                } else {
                    block.forward(x, temb)
                };
            }
            if i + 1 < levels {
                x = conv2d_module(&self.upsample[i], upsample2(x));
            }
        }
        let out = conv2d_module(&self.conv_out, group_norm_silu_module(&self.norm_out, x));
        out.reshape([b, self.output_dim])
    }
}

#[cfg(test)]
mod tests {
    use super::upsample2;
    use burn::tensor::{Device, Distribution, Tensor};

    /// `upsample2` copies `x[n, c, ⌊i/2⌋, ⌊j/2⌋]` (exactly: no arithmetic), and its gradient
    /// is the sum of each 2×2 block of the output gradient (four terms, so within 3 u of the
    /// block's absolute sum).
    #[test]
    fn upsample2_is_nearest_neighbour_with_block_sum_gradient() {
        let device = Device::flex().autodiff();
        let (b, c, h, w) = (3, 5, 7, 6);
        let x = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let r = Tensor::<4>::random(
            [b, c, 2 * h, 2 * w],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let y = upsample2(x.clone());
        assert_eq!(y.dims(), [b, c, 2 * h, 2 * w]);
        let grads = (y.clone() * r.clone()).sum().backward();
        let xs = x.clone().into_data().try_to_vec::<f32>().unwrap();
        let ys = y.into_data().try_to_vec::<f32>().unwrap();
        let rs = r.into_data().try_to_vec::<f32>().unwrap();
        let dx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (ho, wo) = (2 * h, 2 * w);
        for p in 0..b * c {
            for i in 0..ho {
                for j in 0..wo {
                    assert_eq!(
                        ys[(p * ho + i) * wo + j],
                        xs[(p * h + i / 2) * w + j / 2],
                        "y[{p}, {i}, {j}]"
                    );
                }
            }
            for i in 0..h {
                for j in 0..w {
                    let block = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .map(|(u, v)| rs[(p * ho + 2 * i + u) * wo + 2 * j + v]);
                    let sum: f32 = block.iter().sum();
                    let scale: f32 = block.iter().map(|v| v.abs()).sum();
                    let got = dx[(p * h + i) * w + j];
                    assert!(
                        (got - sum).abs() <= 3.0 * f32::EPSILON / 2.0 * scale,
                        "dx[{p}, {i}, {j}] = {got}, block sum {sum}"
                    );
                }
            }
        }
    }
}
