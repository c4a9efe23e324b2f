//! The floor's frame reader over arbitrary bytes: every frame it reads, and every `FILL`
//! size list in one, is within the limits, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wirebench_servers::floor::{self, Frame};

/// The limit `make test` runs the servers with.
const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let mut frame = Vec::new();
    loop {
        match futures::executor::block_on(floor::read_frame(&mut reader, &mut frame, MAX)) {
            Ok(Frame::Body) => {
                assert!(frame.len() <= MAX);
                if let Some((&floor::op::FILL, body)) = frame.split_first()
                    && let Ok((sizes, used)) = floor::fill_sizes(body)
                {
                    assert!(sizes.len() <= floor::MAX_FILL_ITEMS && used <= body.len());
                    assert!(sizes.iter().all(|s| *s <= floor::MAX_FILL));
                }
            }
            // Over the limit: the server answers and closes; so does this reader.
            Ok(Frame::TooLarge(len)) => {
                assert!(len > MAX);
                break;
            }
            Ok(Frame::End) | Err(_) => break,
        }
    }
});
