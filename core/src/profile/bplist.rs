//! Structural pre-check of binary property lists (`bplist00`), run before the `plist` crate
//! parses them.
//!
//! What the `plist` crate (1.x, `stream/binary_reader.rs`) already refuses: a bad magic, trailer
//! offset and reference sizes other than 1, 2, 3, 4 or 8 bytes, an offset table or an object
//! reaching past the trailer (its allocations are bounded by the file size), object references
//! past the object table, and a container that contains itself, directly or indirectly (it marks
//! the containers on its stack).
//!
//! What it does not bound, and this walk does:
//! - **nesting depth**: the parsed `plist::Value` is dropped (and checked) recursively, so
//!   thousands of nested arrays can exhaust the stack; limited to [`MAX_PLIST_DEPTH`];
//! - **shared references**: a binary plist is a graph, and an array that refers twice to the
//!   next one, forty times over, is a few hundred bytes that expand to 2^40 values; the number of
//!   values after expansion is limited to [`MAX_PLIST_VALUES`];
//! - **object count**: [`MAX_BPLIST_OBJECTS`] (real profiles have fewer than a hundred).
//!
//! To walk the graph the check has to read the trailer, the offset table and every container's
//! references anyway, so it also names those defects itself ([`BplistDefect`]) rather than leaving
//! them to a parser message. It reads structure only (container markers, lengths, references);
//! scalars (strings, integers, dates, data) are left to the parser.

use super::MAX_PLIST_DEPTH;

/// Most objects a binary plist may declare in its trailer.
pub const MAX_BPLIST_OBJECTS: u64 = 8192;
/// Most values a plist may expand to once shared references are followed.
pub const MAX_PLIST_VALUES: usize = 32_768;

/// `bplist00`.
const HEADER_LEN: usize = 8;
/// Six unused bytes, offset size, reference size, object count, root object, table offset.
const TRAILER_LEN: usize = 32;

/// What is structurally wrong with a binary plist. Never carries bytes of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BplistDefect {
    /// Shorter than a header, one object and a trailer.
    #[error("the trailer is truncated")]
    TruncatedTrailer,
    /// The trailer's offset or reference size is not 1, 2, 3, 4 or 8 bytes.
    #[error("the trailer's offset or reference size is invalid")]
    BadTrailerSizes,
    /// The trailer declares no objects, or more than [`MAX_BPLIST_OBJECTS`].
    #[error("the object count is zero or above {MAX_BPLIST_OBJECTS}")]
    ObjectCount,
    /// The offset table does not lie between the header and the trailer.
    #[error("the offset table lies outside the file")]
    OffsetTableOutOfRange,
    /// An object offset points outside the object area (header to offset table).
    #[error("an object offset lies outside the object area")]
    ObjectOffsetOutOfRange,
    /// A container's length or references run past the object area.
    #[error("a container is truncated")]
    TruncatedObject,
    /// An object reference (or the root) is not below the object count.
    #[error("an object reference is out of range")]
    ReferenceOutOfRange,
    /// A container contains itself, directly or through others.
    #[error("a container contains itself")]
    ReferenceCycle,
    /// Containers nested deeper than [`MAX_PLIST_DEPTH`].
    #[error("nested deeper than {MAX_PLIST_DEPTH} levels")]
    TooDeep,
    /// Shared references expand to more than [`MAX_PLIST_VALUES`] values.
    #[error("shared references expand to more than {MAX_PLIST_VALUES} values")]
    TooManyValues,
}

/// A big-endian unsigned integer of `bytes.len()` (at most 8) bytes.
fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The parts of a binary plist the walk needs.
struct Layout<'a> {
    data: &'a [u8],
    /// Start of the offset table: objects lie in `HEADER_LEN..objects_end`.
    objects_end: usize,
    ref_size: usize,
    offsets: Vec<usize>,
}

impl<'a> Layout<'a> {
    fn read(data: &'a [u8]) -> Result<(Self, usize), BplistDefect> {
        if data.len() < HEADER_LEN + 1 + TRAILER_LEN {
            return Err(BplistDefect::TruncatedTrailer);
        }
        let trailer_start = data.len() - TRAILER_LEN;
        let trailer = &data[trailer_start..];
        let offset_size = usize::from(trailer[6]);
        let ref_size = usize::from(trailer[7]);
        if !matches!(offset_size, 1 | 2 | 3 | 4 | 8) || !matches!(ref_size, 1 | 2 | 3 | 4 | 8) {
            return Err(BplistDefect::BadTrailerSizes);
        }
        let count = be_uint(&trailer[8..16]);
        if count == 0 || count > MAX_BPLIST_OBJECTS {
            return Err(BplistDefect::ObjectCount);
        }
        // Bounded by MAX_BPLIST_OBJECTS, so these conversions and products cannot overflow.
        let count = count as usize;
        let root = be_uint(&trailer[16..24]);
        let table =
            usize::try_from(be_uint(&trailer[24..32])).map_err(|_| BplistDefect::OffsetTableOutOfRange)?;
        let table_end = table
            .checked_add(count * offset_size)
            .ok_or(BplistDefect::OffsetTableOutOfRange)?;
        if table <= HEADER_LEN || table_end > trailer_start {
            return Err(BplistDefect::OffsetTableOutOfRange);
        }
        let offsets = data[table..table_end]
            .chunks_exact(offset_size)
            .map(|entry| match usize::try_from(be_uint(entry)) {
                Ok(offset) if (HEADER_LEN..table).contains(&offset) => Ok(offset),
                _ => Err(BplistDefect::ObjectOffsetOutOfRange),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let root = match usize::try_from(root) {
            Ok(root) if root < count => root,
            _ => return Err(BplistDefect::ReferenceOutOfRange),
        };
        let layout = Layout {
            data,
            objects_end: table,
            ref_size,
            offsets,
        };
        Ok((layout, root))
    }

    /// The byte at `pos` of the object area.
    fn byte(&self, pos: usize) -> Result<u8, BplistDefect> {
        if pos < self.objects_end {
            Ok(self.data[pos])
        } else {
            Err(BplistDefect::TruncatedObject)
        }
    }

    /// The references of object `index` if it is an array or a dictionary (keys, then values).
    fn children(&self, index: usize) -> Result<Option<Vec<usize>>, BplistDefect> {
        let start = self.offsets[index];
        let marker = self.byte(start)?;
        let per_entry = match marker >> 4 {
            0xa => 1,
            0xd => 2,
            _ => return Ok(None),
        };
        let mut pos = start + 1;
        let mut len = u64::from(marker & 0x0f);
        if len == 0x0f {
            // The length follows as an integer object: marker 0x1n, then 2^n bytes.
            let int_marker = self.byte(pos)?;
            if int_marker >> 4 != 0x1 || int_marker & 0x0f > 3 {
                return Err(BplistDefect::TruncatedObject);
            }
            let width = 1usize << (int_marker & 0x0f);
            let end = pos + 1 + width;
            if end > self.objects_end {
                return Err(BplistDefect::TruncatedObject);
            }
            len = be_uint(&self.data[pos + 1..end]);
            pos = end;
        }
        let refs_len = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_mul(per_entry))
            .and_then(|n| n.checked_mul(self.ref_size))
            .ok_or(BplistDefect::TruncatedObject)?;
        let end = pos
            .checked_add(refs_len)
            .filter(|end| *end <= self.objects_end)
            .ok_or(BplistDefect::TruncatedObject)?;
        self.data[pos..end]
            .chunks_exact(self.ref_size)
            .map(|r| match usize::try_from(be_uint(r)) {
                Ok(child) if child < self.offsets.len() => Ok(child),
                _ => Err(BplistDefect::ReferenceOutOfRange),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// A container being walked.
struct Frame {
    index: usize,
    children: Vec<usize>,
    next: usize,
}

/// Checks the structure of a binary plist (`data` starts with `bplist`); see the module
/// overview for what is checked.
pub fn check_bplist(data: &[u8]) -> Result<(), BplistDefect> {
    let (layout, root) = Layout::read(data)?;
    let mut on_stack = vec![false; layout.offsets.len()];
    let mut stack: Vec<Frame> = Vec::new();
    let mut values = 1usize;
    if let Some(children) = layout.children(root)? {
        on_stack[root] = true;
        stack.push(Frame {
            index: root,
            children,
            next: 0,
        });
    }
    while let Some(top) = stack.last_mut() {
        let Some(&child) = top.children.get(top.next) else {
            on_stack[top.index] = false;
            stack.pop();
            continue;
        };
        top.next += 1;
        values += 1;
        if values > MAX_PLIST_VALUES {
            return Err(BplistDefect::TooManyValues);
        }
        if on_stack[child] {
            return Err(BplistDefect::ReferenceCycle);
        }
        if let Some(children) = layout.children(child)? {
            if stack.len() >= MAX_PLIST_DEPTH {
                return Err(BplistDefect::TooDeep);
            }
            on_stack[child] = true;
            stack.push(Frame {
                index: child,
                children,
                next: 0,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary plist of `objects` (raw encodings), with 2-byte offsets and 1-byte references.
    fn build(objects: &[Vec<u8>], root: u64) -> Vec<u8> {
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for object in objects {
            offsets.push(out.len() as u16);
            out.extend_from_slice(object);
        }
        let table = out.len() as u64;
        for offset in offsets {
            out.extend_from_slice(&offset.to_be_bytes());
        }
        trailer(&mut out, 2, 1, objects.len() as u64, root, table);
        out
    }

    fn trailer(out: &mut Vec<u8>, offset_size: u8, ref_size: u8, count: u64, root: u64, table: u64) {
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&[offset_size, ref_size]);
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&root.to_be_bytes());
        out.extend_from_slice(&table.to_be_bytes());
    }

    fn array(refs: &[u8]) -> Vec<u8> {
        let mut out = vec![0xa0 | refs.len() as u8];
        out.extend_from_slice(refs);
        out
    }

    fn string(text: &str) -> Vec<u8> {
        let mut out = vec![0x50 | text.len() as u8];
        out.extend_from_slice(text.as_bytes());
        out
    }

    /// Writes `value` with the `plist` crate's binary writer.
    fn written(value: &plist::Value) -> Vec<u8> {
        let mut out = Vec::new();
        value.to_writer_binary(&mut out).unwrap();
        out
    }

    #[test]
    fn well_formed_plists_pass() {
        let simple = build(&[array(&[1, 2]), string("a"), string("b")], 0);
        assert_eq!(check_bplist(&simple), Ok(()));
        let parsed = plist::Value::from_reader(std::io::Cursor::new(&simple)).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(2));

        // Shared references that do not explode (the writer shares equal strings).
        let mut dict = plist::Dictionary::new();
        let inner: Vec<plist::Value> = (0..50).map(|_| "same".into()).collect();
        dict.insert("list".into(), plist::Value::Array(inner));
        dict.insert(
            "nested".into(),
            plist::Value::Array(vec![plist::Value::Array(vec![1.into()])]),
        );
        assert_eq!(check_bplist(&written(&plist::Value::Dictionary(dict))), Ok(()));
    }

    #[test]
    fn trailer_defects() {
        let good = build(&[array(&[1]), string("a")], 0);
        assert_eq!(check_bplist(b"bplist00"), Err(BplistDefect::TruncatedTrailer));
        assert_eq!(check_bplist(&good[..20]), Err(BplistDefect::TruncatedTrailer));
        // One byte short: every trailer field shifts.
        assert!(check_bplist(&good[..good.len() - 1]).is_err());

        let table = good.len() as u64 - 32 - 4;
        let with = |offset_size: u8, ref_size: u8, count: u64, root: u64, table: u64| {
            let mut out = good[..good.len() - 32].to_vec();
            trailer(&mut out, offset_size, ref_size, count, root, table);
            check_bplist(&out)
        };
        assert_eq!(with(2, 1, 2, 0, table), Ok(()));
        assert_eq!(with(5, 1, 2, 0, table), Err(BplistDefect::BadTrailerSizes));
        assert_eq!(with(2, 0, 2, 0, table), Err(BplistDefect::BadTrailerSizes));
        assert_eq!(with(2, 1, 0, 0, table), Err(BplistDefect::ObjectCount));
        assert_eq!(with(2, 1, 1 << 40, 0, table), Err(BplistDefect::ObjectCount));
        assert_eq!(
            with(2, 1, MAX_BPLIST_OBJECTS + 1, 0, table),
            Err(BplistDefect::ObjectCount)
        );
        // More objects than the table holds: the table would run into the trailer.
        assert_eq!(with(2, 1, 3, 0, table), Err(BplistDefect::OffsetTableOutOfRange));
        assert_eq!(
            with(2, 1, 2, 0, u64::MAX),
            Err(BplistDefect::OffsetTableOutOfRange)
        );
        assert_eq!(with(2, 1, 2, 0, 4), Err(BplistDefect::OffsetTableOutOfRange));
        assert_eq!(with(2, 1, 2, 2, table), Err(BplistDefect::ReferenceOutOfRange));
        assert_eq!(
            with(2, 1, 2, u64::MAX, table),
            Err(BplistDefect::ReferenceOutOfRange)
        );
    }

    #[test]
    fn offset_and_reference_defects() {
        let mut bad_offset = build(&[array(&[1]), string("a")], 0);
        let table = bad_offset.len() - 32 - 4;
        bad_offset[table + 2..table + 4].copy_from_slice(&0x7fffu16.to_be_bytes());
        assert_eq!(
            check_bplist(&bad_offset),
            Err(BplistDefect::ObjectOffsetOutOfRange)
        );
        // An offset into the header, or onto the offset table itself.
        bad_offset[table + 2..table + 4].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(
            check_bplist(&bad_offset),
            Err(BplistDefect::ObjectOffsetOutOfRange)
        );
        bad_offset[table + 2..table + 4].copy_from_slice(&(table as u16).to_be_bytes());
        assert_eq!(
            check_bplist(&bad_offset),
            Err(BplistDefect::ObjectOffsetOutOfRange)
        );

        let dangling = build(&[array(&[1, 9]), string("a")], 0);
        assert_eq!(check_bplist(&dangling), Err(BplistDefect::ReferenceOutOfRange));

        // An array claiming five references with room for one.
        let short = build(&[vec![0xa5, 1], string("a")], 0);
        assert_eq!(check_bplist(&short), Err(BplistDefect::TruncatedObject));
        // An extended length of 2^64 - 1 references.
        let mut huge = vec![0xaf, 0x13];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            check_bplist(&build(&[huge], 0)),
            Err(BplistDefect::TruncatedObject)
        );
        // An extended length whose integer marker is not an integer.
        assert_eq!(
            check_bplist(&build(&[vec![0xaf, 0x50, 1], string("a")], 0)),
            Err(BplistDefect::TruncatedObject)
        );
    }

    #[test]
    fn cycles_are_refused() {
        // An array containing itself.
        assert_eq!(
            check_bplist(&build(&[array(&[0])], 0)),
            Err(BplistDefect::ReferenceCycle)
        );
        // Indirectly: 0 → 1 → 2 → 0.
        assert_eq!(
            check_bplist(&build(&[array(&[1]), array(&[2]), array(&[0])], 0)),
            Err(BplistDefect::ReferenceCycle)
        );
        // Through a dictionary value: {"k": [dict]}.
        let dict = vec![0xd1, 1, 2];
        assert_eq!(
            check_bplist(&build(&[dict, string("k"), array(&[0])], 0)),
            Err(BplistDefect::ReferenceCycle)
        );
        // The same object twice in one array is sharing, not a cycle.
        assert_eq!(check_bplist(&build(&[array(&[1, 1]), array(&[])], 0)), Ok(()));
    }

    #[test]
    fn deep_nesting_and_reference_explosions_are_refused() {
        let depth = MAX_PLIST_DEPTH + 8;
        let mut nested: Vec<Vec<u8>> = (0..depth).map(|i| array(&[i as u8 + 1])).collect();
        nested.push(string("leaf"));
        assert_eq!(check_bplist(&build(&nested, 0)), Err(BplistDefect::TooDeep));
        let mut ok: Vec<Vec<u8>> = (0..MAX_PLIST_DEPTH - 1).map(|i| array(&[i as u8 + 1])).collect();
        ok.push(string("leaf"));
        assert_eq!(check_bplist(&build(&ok, 0)), Ok(()));

        // Twenty arrays, each referring twice to the next: 2^21 values in 150 bytes.
        let mut doubling: Vec<Vec<u8>> = (0..20).map(|i| array(&[i + 1, i + 1])).collect();
        doubling.push(string("x"));
        let bytes = build(&doubling, 0);
        assert!(bytes.len() < 200);
        assert_eq!(check_bplist(&bytes), Err(BplistDefect::TooManyValues));

        // Too many values even without sharing (a flat array of 40 000 references).
        let count = MAX_PLIST_VALUES + 8;
        let mut wide = vec![0xaf, 0x12];
        wide.extend_from_slice(&(count as u32).to_be_bytes());
        wide.extend(std::iter::repeat_n(1u8, count));
        assert_eq!(
            check_bplist(&build(&[wide, string("x")], 0)),
            Err(BplistDefect::TooManyValues)
        );
    }
}
