//! Random writes, reads and truncates, compared with a `Vec<u8>` model.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    /// `through`: as a stream's write (`write_through_at`).
    Write {
        off: u64,
        len: usize,
        seed: u8,
        through: bool,
    },
    Read {
        off: u64,
        len: usize,
    },
    SetLen(u64),
}

/// Offsets anywhere in the first six chunks, often right at a chunk boundary.
fn offset() -> impl Strategy<Value = u64> {
    let chunk = CHUNK as i64;
    prop_oneof![
        0..6 * CHUNK as u64,
        (0..7i64, -1i64..=1).prop_map(move |(k, d)| (k * chunk + d).max(0) as u64),
    ]
}

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![0..64usize, 0..2 * CHUNK + 10, Just(CHUNK)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (offset(), length(), any::<u8>(), any::<bool>())
            .prop_map(|(off, len, seed, through)| Op::Write { off, len, seed, through }),
        2 => (offset(), length()).prop_map(|(off, len)| Op::Read { off, len }),
        1 => offset().prop_map(Op::SetLen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_operations_match_an_in_memory_model(
        xchacha in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        let cipher = if xchacha { Cipher::XChaCha20Poly1305 } else { Cipher::Aes256Gcm };
        let t = TestObject::new(cipher, CHUNK as u32);
        let mut model: Vec<u8> = Vec::new();
        for op in ops {
            match op {
                Op::Write { off, len, seed, through } => {
                    let data = pattern(len, seed);
                    if through {
                        t.object().write_through_at(off, &data).unwrap();
                    } else {
                        t.object().write_at(off, &data).unwrap();
                    }
                    if len > 0 {
                        let end = off as usize + len;
                        if model.len() < end {
                            model.resize(end, 0);
                        }
                        model[off as usize..end].copy_from_slice(&data);
                    }
                }
                Op::Read { off, len } => {
                    let mut buf = vec![0xEE; len];
                    let n = t.object().read_at(off, &mut buf).unwrap();
                    let start = (off as usize).min(model.len());
                    let end = (start + len).min(model.len());
                    prop_assert_eq!(&buf[..n], &model[start..end]);
                }
                Op::SetLen(len) => {
                    t.object().set_len(len).unwrap();
                    model.resize(len as usize, 0);
                }
            }
            prop_assert_eq!(t.object().plain_len().unwrap(), model.len() as u64);
        }
        prop_assert_eq!(t.read_all().unwrap(), model);
    }
}
