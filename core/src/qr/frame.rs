//! Camera frames as 8-bit luma planes, validated once at the boundary.
//!
//! Android CameraX (`ImageProxy.planes[0]`, YUV_420_888) and Apple's 420f/420v
//! `CVPixelBuffer` plane 0 both hand out the Y (luma) plane as bytes plus a row stride that may
//! be larger than the width (padding), and the last row is often not padded. [`LumaFrame`]
//! borrows such a plane without copying; [`OwnedLumaFrame`] owns one (for frame sources and
//! FFI). Both are checked by their constructors, so the scanner never indexes out of bounds.

use thiserror::Error;

/// Largest accepted width or height, in pixels.
pub const MAX_FRAME_DIMENSION: u32 = 8192;

/// Why a luma plane was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Width or height is zero.
    #[error("frame has a zero dimension ({width}x{height})")]
    ZeroSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Width or height is above [`MAX_FRAME_DIMENSION`].
    #[error("frame of {width}x{height} exceeds the {max}-pixel dimension limit")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The limit.
        max: u32,
    },
    /// The row stride is smaller than the width.
    #[error("row stride {stride} is smaller than the width {width}")]
    StrideTooSmall {
        /// Bytes per row.
        stride: u32,
        /// Width in pixels.
        width: u32,
    },
    /// The buffer cannot hold `height` rows of the given stride (the last row needs only
    /// `width` bytes).
    #[error("buffer of {actual} bytes is shorter than the {needed} bytes the frame needs")]
    BufferTooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
}

/// Bytes a `width` x `height` plane with `stride` needs (last row unpadded), after checks.
fn required_len(width: u32, height: u32, stride: u32) -> Result<usize, FrameError> {
    if width == 0 || height == 0 {
        return Err(FrameError::ZeroSize { width, height });
    }
    if width > MAX_FRAME_DIMENSION || height > MAX_FRAME_DIMENSION {
        return Err(FrameError::TooLarge {
            width,
            height,
            max: MAX_FRAME_DIMENSION,
        });
    }
    if stride < width {
        return Err(FrameError::StrideTooSmall { stride, width });
    }
    // stride is a u32 and height <= 8192, so this fits in u64 and in usize on 64-bit targets;
    // checked anyway for 32-bit ones.
    let needed = (u64::from(height) - 1) * u64::from(stride) + u64::from(width);
    usize::try_from(needed).map_err(|_| FrameError::BufferTooShort {
        needed: usize::MAX,
        actual: 0,
    })
}

/// A borrowed 8-bit luma plane (0 = black, 255 = white).
#[derive(Clone, Copy)]
pub struct LumaFrame<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: u32,
}

impl<'a> LumaFrame<'a> {
    /// Wraps `data` as `height` rows of `width` pixels, row `y` starting at byte `y * stride`.
    ///
    /// The buffer must hold at least `(height - 1) * stride + width` bytes; extra bytes are
    /// ignored.
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: u32) -> Result<Self, FrameError> {
        let needed = required_len(width, height, stride)?;
        if data.len() < needed {
            return Err(FrameError::BufferTooShort {
                needed,
                actual: data.len(),
            });
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
        })
    }

    /// Wraps a tightly packed plane (`stride == width`).
    pub fn packed(data: &'a [u8], width: u32, height: u32) -> Result<Self, FrameError> {
        Self::new(data, width, height, width)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from one row start to the next.
    pub fn stride(&self) -> u32 {
        self.stride
    }

    /// The underlying bytes (including any row padding).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Copies the frame into an [`OwnedLumaFrame`] (tightly packed).
    pub fn to_owned_frame(&self) -> OwnedLumaFrame {
        let (w, h, s) = (self.width as usize, self.height as usize, self.stride as usize);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            // In bounds by construction (checked in `new`).
            if let Some(row) = self.data.get(y * s..y * s + w) {
                data.extend_from_slice(row);
            }
        }
        OwnedLumaFrame {
            data,
            width: self.width,
            height: self.height,
            stride: self.width,
        }
    }

    pub(crate) fn plane(&self) -> super::binarize::Plane<'a> {
        super::binarize::Plane {
            data: self.data,
            width: self.width as usize,
            height: self.height as usize,
            stride: self.stride as usize,
        }
    }
}

impl std::fmt::Debug for LumaFrame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LumaFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// An owned 8-bit luma plane, as produced by a [`super::FrameSource`].
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedLumaFrame {
    data: Vec<u8>,
    width: u32,
    height: u32,
    stride: u32,
}

impl OwnedLumaFrame {
    /// Takes ownership of a plane; same rules as [`LumaFrame::new`].
    pub fn new(data: Vec<u8>, width: u32, height: u32, stride: u32) -> Result<Self, FrameError> {
        LumaFrame::new(&data, width, height, stride)?;
        Ok(Self {
            data,
            width,
            height,
            stride,
        })
    }

    /// Borrows the frame for scanning.
    pub fn as_frame(&self) -> LumaFrame<'_> {
        LumaFrame {
            data: &self.data,
            width: self.width,
            height: self.height,
            stride: self.stride,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from one row start to the next.
    pub fn stride(&self) -> u32 {
        self.stride
    }

    /// Gives the bytes back.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

impl std::fmt::Debug for OwnedLumaFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_frame().fmt(f)
    }
}
