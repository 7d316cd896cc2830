//! `armlet quantize` against llama-quantize: every quantized fixture is reproduced byte for
//! byte from its F32 fixture (sha256 from the fixture sidecars), the types gguf-py can
//! encode match its numpy quantizers byte for byte, and for the file types that have no
//! fixture a decode-encode-decode round trip is stable and the error is ordered by bits.

use armlet_core::gguf;
use armlet_core::quant::dequantize_row;
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURES: &str = "/work/shared/fixtures";
const ARMLET: &str = env!("CARGO_BIN_EXE_armlet");

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("armlet-quantize-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn quantize(input: &Path, output: &Path, ty: &str, extra: &[&str]) {
    let run = Command::new(ARMLET).arg("quantize").arg(input).arg(output).arg(ty).args(extra).output().unwrap();
    assert!(run.status.success(), "armlet quantize {} {ty}: {}", input.display(), String::from_utf8_lossy(&run.stderr));
}

fn f32_fixture(shape: &str) -> PathBuf {
    Path::new(FIXTURES).join(format!("falcon-h1-{shape}-F32.gguf"))
}

/// SHA-256 (FIPS 180-4), enough for comparing files with the sidecars' digests.
fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// The sha256 the sidecar `falcon-h1-{shape}.json` records for `file`.
fn sidecar_sha256(shape: &str, file: &str) -> String {
    let json = std::fs::read_to_string(Path::new(FIXTURES).join(format!("falcon-h1-{shape}.json"))).unwrap();
    let entry = json.find(&format!("\"{file}\":")).unwrap_or_else(|| panic!("{file} not in the {shape} sidecar"));
    let field = "\"sha256\": \"";
    let start = entry + json[entry..].find(field).unwrap() + field.len();
    json[start..start + 64].to_string()
}

#[test]
fn sha256_matches_the_standard_test_vectors() {
    assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn every_quantized_fixture_is_reproduced_byte_for_byte() {
    let dir = scratch_dir("fixtures");
    for shape in ["micro", "small"] {
        let input = f32_fixture(shape);
        assert_eq!(
            sha256_hex(&std::fs::read(&input).unwrap()),
            sidecar_sha256(shape, &format!("falcon-h1-{shape}-F32.gguf")),
            "the F32 input fixture itself"
        );
        for ty in ["F16", "Q8_0", "Q4_K_S", "Q2_K"] {
            let out = dir.join(format!("{shape}-{ty}.gguf"));
            quantize(&input, &out, ty, &[]);
            let got = sha256_hex(&std::fs::read(&out).unwrap());
            assert_eq!(got, sidecar_sha256(shape, &format!("falcon-h1-{shape}-{ty}.gguf")), "{shape} {ty}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Byte comparison with gguf-py's numpy encoders (installed by scripts/setup).
#[test]
fn float_and_32_block_types_match_gguf_py() {
    let dir = scratch_dir("gguf-py");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/quantize_reference.py");
    for shape in ["micro", "small"] {
        for ty in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "BF16"] {
            let out = dir.join(format!("{shape}-{ty}.gguf"));
            quantize(&f32_fixture(shape), &out, ty, &[]);
            let check = Command::new("python3").arg(&script).arg(f32_fixture(shape)).arg(&out).output();
            let check = check.expect("python3 is needed for this test (scripts/setup installs it with gguf)");
            assert!(
                check.status.success(),
                "{shape} {ty}: {}{}(the test needs python3 with numpy and gguf: scripts/setup)",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every tensor of a GGUF file decoded to f32, with its type name, sorted by name.
fn decode_all(path: &Path) -> Vec<(String, &'static str, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = gguf::File::parse(&bytes).unwrap();
    let mut tensors: Vec<_> = file
        .tensors()
        .map(|t| {
            let n = t.ne[0] as usize;
            let mut values = vec![0f32; t.n_elements() as usize];
            let row_bytes = t.data.len() / (values.len() / n);
            for (src, dst) in t.data.chunks_exact(row_bytes).zip(values.chunks_exact_mut(n)) {
                dequantize_row(t.ty, src, dst).unwrap();
            }
            (t.name.to_string(), t.ty.name(), values)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// ||a - b|| / ||b|| over all tensors together.
fn relative_rms(a: &[(String, &str, Vec<f32>)], b: &[(String, &str, Vec<f32>)]) -> f64 {
    let (mut err, mut norm) = (0f64, 0f64);
    for ((na, _, va), (nb, _, vb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        for (&x, &y) in va.iter().zip(vb) {
            err += (x as f64 - y as f64).powi(2);
            norm += (y as f64).powi(2);
        }
    }
    (err / norm).sqrt()
}

/// For the file types without a fixture: F32 -> T (A), A -> F32 (D1, decoded by the
/// core), D1 -> T (A2), A2 -> F32 (D2). The 32-block formats must re-encode their own
/// decoded values exactly (A2 == A); the K-quants, whose scale search sees different
/// inputs the second time, must move by far less than their own error. Errors must be
/// ordered by bits per weight.
#[test]
fn round_trips_are_stable_and_errors_are_ordered() {
    let dir = scratch_dir("round-trip");
    let input = f32_fixture("small");
    let original = decode_all(&input);
    let mut errors = Vec::new();
    for ty in ["Q3_K_S", "Q3_K_M", "Q4_0", "Q4_1", "Q4_K_M", "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "BF16"] {
        let a = dir.join(format!("{ty}.gguf"));
        let d1 = dir.join(format!("{ty}-D1.gguf"));
        let a2 = dir.join(format!("{ty}-A2.gguf"));
        let d2 = dir.join(format!("{ty}-D2.gguf"));
        quantize(&input, &a, ty, &[]);
        quantize(&a, &d1, "F32", &["--allow-requantize"]);
        quantize(&d1, &a2, ty, &[]);
        quantize(&a2, &d2, "F32", &["--allow-requantize"]);
        let (dec1, dec2) = (decode_all(&d1), decode_all(&d2));
        let error = relative_rms(&dec1, &original);
        let drift = relative_rms(&dec2, &dec1);
        let types_a: Vec<_> = decode_all(&a).into_iter().map(|(_, t, _)| t).collect();
        let types_a2: Vec<_> = decode_all(&a2).into_iter().map(|(_, t, _)| t).collect();
        assert_eq!(types_a, types_a2, "{ty}: the same type choices from F32 input");
        eprintln!("{ty:7} error {error:.5}  round-trip drift {drift:.2e}");
        let is_k_quant = types_a.iter().any(|t| t.ends_with("_K"));
        if is_k_quant {
            assert!(drift < 0.25 * error, "{ty}: drift {drift} vs error {error}");
        } else {
            assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&a2).unwrap(), "{ty}: A2 != A");
        }
        errors.push((ty, error));
    }
    let error_of = |t: &str| errors.iter().find(|(n, _)| *n == t).unwrap().1;
    for (worse, better) in [
        ("Q3_K_S", "Q3_K_M"),
        ("Q3_K_M", "Q4_K_M"),
        ("Q4_0", "Q4_1"),
        ("Q4_1", "Q5_0"),
        ("Q5_0", "Q5_1"),
        ("Q4_K_M", "Q5_K_S"),
        ("Q5_K_S", "Q5_K_M"),
        ("Q5_K_M", "Q6_K"),
        ("Q6_K", "BF16"),
    ] {
        assert!(error_of(worse) > error_of(better), "{worse} {} should be above {better} {}", error_of(worse), error_of(better));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
