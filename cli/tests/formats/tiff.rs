//! TIFF stacks: pages along z, ImageJ's spacing and description kept, pixels written
//! contiguously, MinIsWhite kept, ImageJ's one-page-of-tags stacks read whole.

use std::fs;

use blur3d::BlurOptions;

use crate::common::fails_with as fails;
use crate::common::files::{
    IMAGEJ_DESCRIPTION, read_npy, read_tiff, tiff_bytes, tiff_strips, u16_pages, write_tiff_u16,
};
use crate::common::{a, copied, random, reference, refuses, succeeds, tmp};

#[test]
fn tiff_round_trips_keep_pages_and_imagej_spacing() {
    let dir = tmp();
    let (i, o) = (dir.path().join("in.tif"), dir.path().join("out.tiff"));
    let vol = random((10, 9, 8), 9, 60_000.0).mapv(|v| v as u16); // pages z, rows y, columns x
    write_tiff_u16(&i, &vol, true);
    // ImageJ says 1 mm per pixel and 3 mm per page: 3mm is (1, 3, 3) voxels along (z, y, x).
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "3mm".as_ref(),
        "--cpu".as_ref(),
    ]);
    let stack = read_tiff(&o, u16_pages);
    assert_eq!(stack.description.as_deref(), Some(IMAGEJ_DESCRIPTION));
    assert_eq!(stack.x_resolution, Some((1, 1000)));
    let values = vol.mapv(f64::from);
    let expected = reference(&values, &BlurOptions::new([1.0, 3.0, 3.0]))
        .mapv(|v| v.round().clamp(0.0, 65535.0) as u16);
    assert_eq!(stack.voxels, expected);

    // Without ImageJ's tags there is no spacing; sigma lists are (z, y, x).
    let plain = dir.path().join("plain.tif");
    write_tiff_u16(&plain, &vol, false);
    succeeds([
        a(&plain),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1,3,3".as_ref(),
        "--cpu".as_ref(),
    ]);
    assert_eq!(read_tiff(&o, u16_pages).voxels, expected);
    let err = fails(
        [
            a(&plain),
            "-o".as_ref(),
            a(&o),
            "--sigma".as_ref(),
            "3mm".as_ref(),
        ],
        &plain,
        "no voxel spacing",
    );
    assert!(err.contains("give it in voxels"), "{err}");
}

#[test]
fn tiff_stacks_are_written_with_contiguous_pixels() {
    let dir = tmp();
    let d = dir.path();
    let vol = random((5, 7, 6), 24, 60000.0).mapv(|v| v as u16);
    let (i, o) = (d.join("in.tif"), d.join("out.tif"));
    write_tiff_u16(&i, &vol, true);
    succeeds([
        a(&i),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ]);
    let strips = tiff_strips(&fs::read(&o).unwrap());
    assert_eq!(strips.len(), 5);
    let page = 7 * 6 * 2;
    for (z, &(offset, count, _)) in strips.iter().enumerate() {
        assert_eq!(count, page);
        assert_eq!(
            offset,
            strips[0].0 + z as u64 * page,
            "page {z} follows page {}",
            z.max(1) - 1
        );
    }
    let description = read_tiff(&o, u16_pages).description.unwrap();
    assert!(
        description.starts_with("ImageJ=") && description.contains("images=5\n"),
        "{description:?}"
    );

    // tifffile's JSON description is kept, and the pixels are contiguous all the same.
    let json = d.join("json.tif");
    {
        use tiff::encoder::{TiffEncoder, colortype::Gray16};
        use tiff::tags::Tag;
        let mut enc = TiffEncoder::new(fs::File::create(&json).unwrap()).unwrap();
        for (z, page) in vol.outer_iter().enumerate() {
            let mut img = enc.new_image::<Gray16>(6, 7).unwrap();
            if z == 0 {
                img.encoder()
                    .write_tag(Tag::ImageDescription, "{\"shape\": [5, 7, 6]}")
                    .unwrap();
            }
            img.write_data(page.to_slice().unwrap()).unwrap();
        }
    }
    succeeds([
        a(&json),
        "-o".as_ref(),
        a(&o),
        "--sigma".as_ref(),
        "1".as_ref(),
        "--cpu".as_ref(),
    ]);
    let strips = tiff_strips(&fs::read(&o).unwrap());
    assert!(strips.windows(2).all(|w| w[1].0 == w[0].0 + page));
    assert_eq!(
        read_tiff(&o, u16_pages).description.unwrap(),
        "{\"shape\": [5, 7, 6]}"
    );
}

#[test]
fn min_is_white_tiffs_keep_their_values_and_their_look() {
    let dir = tmp();
    let d = dir.path();
    let values: Vec<u16> = (0..1000).collect();
    let pages: Vec<Vec<u8>> = values
        .chunks(250)
        .map(|p| p.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let (i, o, back) = (d.join("white.tif"), d.join("out.tif"), d.join("out.npy"));
    fs::write(&i, tiff_bytes(25, 10, &pages, 16, &[(262, 3, 0)])).unwrap();
    copied(&i, &back);
    let read = read_npy::<u16>(&back);
    assert_eq!(read.shape(), [4, 10, 25]);
    assert_eq!(
        read.iter().copied().collect::<Vec<_>>(),
        values,
        "the file's values"
    );
    copied(&i, &o);
    let strips = tiff_strips(&fs::read(&o).unwrap());
    assert!(
        strips.iter().all(|s| s.2 == 0),
        "MinIsWhite kept: {strips:?}"
    );
    copied(&o, &back);
    assert_eq!(read_npy::<u16>(&back), read);
}

/// A big-endian TIFF as ImageJ writes stacks over 4 GiB: one page's tags, with a description
/// that counts `images`, followed by the pixels of `pages` pages of u16 in one block.
fn imagej_one_ifd(width: u16, height: u16, images: usize, pages: &[u16]) -> Vec<u8> {
    let description = format!("ImageJ=1.54f\nimages={images}\nslices={images}\nloop=false\n\0");
    let page_bytes = u32::from(width) * u32::from(height) * 2;
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 3, 1, u32::from(width)),
        (257, 3, 1, u32::from(height)),
        (258, 3, 1, 16),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (270, 2, description.len() as u32, 0), // offset below
        (273, 4, 1, 0),                        // offset below
        (277, 3, 1, 1),
        (278, 3, 1, u32::from(height)),
        (279, 4, 1, page_bytes),
    ];
    let ifd_len = 2 + 12 * entries.len() + 4;
    let description_at = (8 + ifd_len) as u32;
    let data_at = description_at + description.len() as u32;
    let mut out = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for (tag, kind, count, value) in entries {
        let value = match tag {
            270 => description_at,
            273 => data_at,
            _ => value,
        };
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        if kind == 3 {
            out.extend_from_slice(&(value as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(description.as_bytes());
    for v in pages {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

#[test]
fn imagej_stacks_with_the_tags_of_one_page_are_read_whole() {
    let dir = tmp();
    let d = dir.path();
    let values: Vec<u16> = (0..3 * 4 * 5).map(|v| v * 11).collect();
    let (i, o) = (d.join("big_imagej.tif"), d.join("out.npy"));
    fs::write(&i, imagej_one_ifd(5, 4, 3, &values)).unwrap();
    copied(&i, &o);
    let read = read_npy::<u16>(&o);
    assert_eq!(read.shape(), [3, 4, 5]);
    assert_eq!(read.iter().copied().collect::<Vec<_>>(), values);
    // A description that counts more images than the file holds is refused.
    fs::write(&i, imagej_one_ifd(5, 4, 1_000_000, &values)).unwrap();
    refuses(&i, &d.join("refused.npy"), "more than this");
}
