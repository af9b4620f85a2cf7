//! The BD-rate implementation reproduces every vector of the project's
//! rd-vectors.json (computed with scipy's PchipInterpolator) within 0.01
//! percentage points, and the PSNR interval integrated over.

use mica_rd::bd::bd_rate;
use serde_json::Value;
use std::path::PathBuf;

fn check_file(path: &PathBuf) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let vectors = doc["vectors"].as_array().expect("vectors array");
    assert!(!vectors.is_empty());
    let pts = |v: &Value| -> Vec<(f64, f64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    };
    let mut worst = 0.0f64;
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let want = v["bd_rate_percent"].as_f64().unwrap();
        let got =
            bd_rate(&pts(&v["anchor"]), &pts(&v["test"])).unwrap_or_else(|e| panic!("{name}: {e}"));
        let err = (got.value - want).abs();
        worst = worst.max(err);
        assert!(
            err < 0.01,
            "{name}: got {:.4} %, expected {want} %",
            got.value
        );
        if let Some(iv) = v.get("psnr_interval_db").and_then(|x| x.as_array()) {
            let (lo, hi) = (iv[0].as_f64().unwrap(), iv[1].as_f64().unwrap());
            assert!(
                (got.interval.0 - lo).abs() < 1e-9 && (got.interval.1 - hi).abs() < 1e-9,
                "{name}: interval {:?}",
                got.interval
            );
        }
    }
    println!(
        "{}: {} vectors, largest deviation {worst:.2e} percentage points",
        path.display(),
        vectors.len()
    );
    vectors.len()
}

#[test]
fn bundled_rd_vectors() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rd-vectors.json");
    assert!(check_file(&p) >= 40);
}

#[test]
fn shared_rd_vectors_when_present() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/notes/rd-vectors.json");
    if !p.exists() {
        println!(
            "note: {} absent; only the bundled copy was checked",
            p.display()
        );
        return;
    }
    check_file(&p);
}
