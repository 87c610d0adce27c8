//! What the three paths of the 2-D convolution share: the shape ([`Conv2dShape`]), how a
//! batch is cut into blocks over the rayon threads ([`Plan`]), the GEMM call ([`sgemm`]) and
//! the orientation of its output ([`channels_last`]), the raw output pointer the threads write
//! through ([`SharedMut`]), and each thread's kept scratch memory ([`with_scratch`], the im2col
//! buffers of [`kept_buffer`]).
//!
//! [`super::conv2d`] (im2col + GEMM), [`super::conv2d_rows`] (the horizontal shifts) and
//! [`super::conv2d_winograd`] (Winograd's F(2×2, 3×3)) all import these from here, so that
//! none of them imports another's internals: `conv2d` picks the path and calls the other two.

use gemm::Parallelism;
use std::mem::MaybeUninit;

/// Shape and options of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output channels.
    pub c_out: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride (height, width).
    pub stride: [usize; 2],
    /// Zero padding on each side (height, width).
    pub padding: [usize; 2],
}

impl Conv2dShape {
    /// Output height and width: `⌊(H + 2p − k)/s⌋ + 1`.
    pub fn output(&self) -> [usize; 2] {
        let o =
            |d: usize| (self.input[d] + 2 * self.padding[d] - self.kernel[d]) / self.stride[d] + 1;
        [o(0), o(1)]
    }

    /// Whether the shape is one these kernels take: non-zero sizes and a kernel that fits the
    /// padded input.
    pub fn is_valid(&self) -> bool {
        let dims = [
            self.batch,
            self.c_in,
            self.c_out,
            self.kernel[0],
            self.kernel[1],
            self.stride[0],
            self.stride[1],
            self.input[0],
            self.input[1],
        ];
        dims.iter().all(|&d| d > 0)
            && (0..2).all(|d| self.input[d] + 2 * self.padding[d] >= self.kernel[d])
    }

    /// Rows of the im2col matrix, `C kh kw`.
    pub(super) fn k(&self) -> usize {
        self.c_in * self.kernel[0] * self.kernel[1]
    }

    pub(super) fn pixels_in(&self) -> usize {
        self.input[0] * self.input[1]
    }

    pub(super) fn pixels_out(&self) -> usize {
        let [h, w] = self.output();
        h * w
    }

    /// A stride-1 convolution whose output is as large as its input (`k = 2p + 1` both ways),
    /// other than the 1×1: these take [`super::conv2d_rows`].
    pub fn keeps_size(&self) -> bool {
        self.stride == [1, 1]
            && (0..2).all(|d| self.kernel[d] == 2 * self.padding[d] + 1)
            && !self.is_pointwise()
    }

    /// A 1×1 convolution with stride 1 and no padding: its im2col matrix is the image itself.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }
}

/// How the batch is cut: `blocks` blocks of at most `per_block` images.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub(super) per_block: usize,
    pub(super) blocks: usize,
    pub(super) threads: usize,
}

impl Plan {
    /// Blocks of ≥ 512 output pixels (the GEMM rows of im2col and of the row shifts).
    pub(super) fn new(shape: &Conv2dShape) -> Plan {
        Plan::for_rows(shape, shape.pixels_out(), 512)
    }

    /// Blocks of at least `wanted` GEMM rows for `per_image` rows an image, but at least one
    /// block per thread.
    pub(super) fn for_rows(shape: &Conv2dShape, per_image: usize, wanted: usize) -> Plan {
        let threads = rayon::current_num_threads().max(1);
        let batch = shape.batch;
        let want = wanted.div_ceil(per_image.max(1)).max(1);
        let mut blocks = batch.div_ceil(want);
        blocks = blocks.div_ceil(threads) * threads;
        blocks = blocks.clamp(1, batch);
        let per_block = batch.div_ceil(blocks);
        let blocks = batch.div_ceil(per_block);
        Plan {
            per_block,
            blocks,
            threads,
        }
    }

    pub(super) fn images(&self, block: usize, batch: usize) -> std::ops::Range<usize> {
        let start = block * self.per_block;
        start..(start + self.per_block).min(batch)
    }

    /// Blocks of thread `t` under the static split: a contiguous run.
    pub(super) fn blocks_of(&self, t: usize) -> std::ops::Range<usize> {
        let per = self.blocks.div_ceil(self.threads);
        (t * per).min(self.blocks)..((t + 1) * per).min(self.blocks)
    }

    /// The GEMMs run single-threaded inside the parallel blocks, except when there is only
    /// one block: then the GEMM itself spreads over the threads.
    pub(super) fn gemm_parallelism(&self) -> Parallelism {
        if self.blocks == 1 && self.threads > 1 {
            Parallelism::Rayon(self.threads)
        } else {
            Parallelism::None
        }
    }
}

/// A thread's im2col matrix for one block geometry (the shape with the block's image count as
/// its batch), kept across blocks and calls: the zeros of the padding stay in place because
/// only buffers of the same geometry are reused.
pub(super) struct Im2colBuffer {
    pub(super) geometry: Conv2dShape,
    pub(super) layout: Layout,
    pub(super) values: Vec<f32>,
}

/// Which matrix a kept buffer holds: the full im2col matrix of [`super::conv2d`], or the horizontal
/// shifts only of [`super::conv2d_rows`]. Their zeros sit at different places, so a buffer is
/// reused only for the same layout and geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    Im2col,
    Rows,
}

/// The geometry an im2col buffer is kept for: `s` with the block's image count as batch.
pub(super) fn block_geometry(s: &Conv2dShape, images: usize) -> Conv2dShape {
    Conv2dShape {
        batch: images,
        ..*s
    }
}

/// A rayon thread's scratch memory, kept across calls: allocating it afresh zero-filled it at
/// every call (≈ 3 % of the main job's training step, measured with `perf`).
#[derive(Default)]
pub(super) struct Scratch {
    /// im2col matrices, most recently used last.
    pub(super) im2col: Vec<Im2colBuffer>,
    /// The forward's output block, the backward's output-gradient block and its
    /// input-gradient matrix: each is overwritten before it is read.
    pub(super) out: Vec<f32>,
    pub(super) dy: Vec<f32>,
    pub(super) dcol: Vec<f32>,
}

/// im2col buffers a thread keeps (one per layer geometry of a network, forward and backward
/// share them) and the floats they may hold together.
const IM2COL_KEPT: usize = 48;
const IM2COL_KEPT_FLOATS: usize = 24 << 20;

/// The buffer of `kept` for `len` floats of `layout` for `images` images of shape `s`
/// (zero-filled when new), moved to the end of `kept` (the most recently used); the least
/// recently used go first when `kept` is full.
pub(super) fn kept_buffer<'a>(
    kept: &'a mut Vec<Im2colBuffer>,
    s: &Conv2dShape,
    images: usize,
    layout: Layout,
    len: usize,
) -> &'a mut Im2colBuffer {
    let geometry = block_geometry(s, images);
    let buffer = match kept
        .iter()
        .position(|b| b.geometry == geometry && b.layout == layout)
    {
        Some(i) => kept.remove(i),
        None => {
            let mut held: usize = kept.iter().map(|b| b.values.len()).sum();
            while !kept.is_empty() && (kept.len() >= IM2COL_KEPT || held + len > IM2COL_KEPT_FLOATS)
            {
                held -= kept.remove(0).values.len();
            }
            Im2colBuffer {
                geometry,
                layout,
                values: vec![0.0; len],
            }
        }
    };
    kept.push(buffer);
    kept.last_mut().expect("just pushed")
}

thread_local! {
    static SCRATCH: std::cell::Cell<Option<Box<Scratch>>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with this thread's scratch. The scratch is taken out of the thread-local slot for
/// the call, so a job that rayon runs on this thread while `f` waits (work stealing inside a
/// parallel GEMM) finds the slot empty and works with fresh memory instead of aliasing it.
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = SCRATCH.with(|slot| slot.take()).unwrap_or_default();
    let result = f(&mut scratch);
    SCRATCH.with(|slot| slot.set(Some(scratch)));
    result
}

/// A raw pointer that may cross threads; every use writes a range no other thread touches.
#[derive(Clone, Copy)]
pub(super) struct SharedMut(pub(super) *mut f32);
// SAFETY: used only to write disjoint ranges from different threads (see each use).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(super) fn ptr(self) -> *mut f32 {
        self.0
    }

    /// The `len` values from `at` on, as a slice that need not be initialised yet.
    ///
    /// # Safety
    /// `at + len` lies within the buffer, and nothing else touches the range while the slice
    /// lives.
    pub(super) unsafe fn range<'a>(self, at: usize, len: usize) -> &'a mut [MaybeUninit<f32>] {
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at).cast(), len) }
    }
}

/// The sizes of one GEMM `dst (m×n) = lhs (m×k) · rhs (k×n)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct GemmDims {
    /// Rows of `dst` and `lhs`.
    pub(super) m: usize,
    /// Columns of `dst` and `rhs`.
    pub(super) n: usize,
    /// The inner dimension: columns of `lhs`, rows of `rhs`.
    pub(super) k: usize,
}

/// A strided f32 matrix behind `ptr` (`*const f32` or `*mut f32`): element `(i, j)` lies at
/// `ptr + i · row_stride + j · col_stride`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Strided<P> {
    pub(super) ptr: P,
    /// Distance between adjacent columns.
    pub(super) col_stride: usize,
    /// Distance between adjacent rows.
    pub(super) row_stride: usize,
}

impl<P> Strided<P> {
    /// Column-major with leading dimension `ld`: `(i, j)` at `i + j · ld`.
    #[inline]
    pub(super) fn col_major(ptr: P, ld: usize) -> Self {
        Self {
            ptr,
            col_stride: ld,
            row_stride: 1,
        }
    }

    /// Row-major with leading dimension `ld`: `(i, j)` at `i · ld + j`.
    #[inline]
    pub(super) fn row_major(ptr: P, ld: usize) -> Self {
        Self {
            ptr,
            col_stride: 1,
            row_stride: ld,
        }
    }
}

/// `dst (m×n) = α dst + β lhs (m×k) · rhs (k×n)` in f32, with `α = 1` if `accumulate` (else
/// `dst` is not read) and `β = 1`.
///
/// # Safety
/// The three matrices lie within their buffers for `dims`, and `dst` overlaps neither input.
#[inline]
pub(super) unsafe fn sgemm(
    dims: GemmDims,
    dst: Strided<*mut f32>,
    accumulate: bool,
    lhs: Strided<*const f32>,
    rhs: Strided<*const f32>,
    parallelism: Parallelism,
) {
    // SAFETY: the caller passes pointers and strides that describe valid matrices.
    unsafe {
        gemm::gemm(
            dims.m,
            dims.n,
            dims.k,
            dst.ptr,
            dst.col_stride as isize,
            dst.row_stride as isize,
            accumulate,
            lhs.ptr,
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.ptr,
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Whether the forward GEMM writes channels-last (`[pixels, channels]`, then transposed): the
/// `gemm` micro-kernel runs along the destination's contiguous dimension, and measured on
/// this project's 2-core AVX2 machine (`cargo run --release -p gpfn-kernels --example
/// gemm_orientation`) it is faster along 16–64 channels than along the pixels, and slower
/// along 128 channels with long rows.
pub(super) fn channels_last(c_out: usize) -> bool {
    (16..=64).contains(&c_out)
}
