use petri_paillier::wire::collect_ciphertexts;
use petri_paillier::{Number, hazmat};
use serde_json::json;

use super::*;

fn keys() -> petri_paillier::Keypair {
    hazmat::generate_keypair_any_size(&mut rand::rng(), 1024).expect("keygen")
}

fn decrypt_all(k: &petri_paillier::Keypair, out: &[serde_json::Value]) -> Vec<(Option<String>, Number)> {
    collect_ciphertexts(&serde_json::Value::Array(out.to_vec()))
        .expect("ciphertexts")
        .into_iter()
        .map(|w| {
            let c = k.public.from_wire(&w).expect("valid");
            (w.label, k.private.decrypt(&c).expect("decrypts"))
        })
        .collect()
}

#[test]
fn sums_and_means_by_label() {
    let k = keys();
    let r1 = encrypt_answer(&k.public, &[Number::from(40), Number::from(15)], "mean").expect("answer");
    let r2 = encrypt_answer(&k.public, &[Number::from(5)], "mean").expect("answer");
    let out = aggregate(
        &k.public,
        &[r1[0].clone(), r1[1].clone(), r2[0].clone(), r2[1].clone()],
        None,
    )
    .expect("sums");
    let got = decrypt_all(&k, &out);
    assert_eq!(
        got,
        vec![
            (Some("sum".into()), Number::from(60)),
            (Some("count".into()), Number::from(3))
        ]
    );
    // The seed's shape: unlabelled sums in, one unlabelled sum out.
    let a = encrypt_answer(&k.public, &[Number::from(55)], "sum").expect("answer");
    let b = encrypt_answer(&k.public, &[Number::Float(5.5)], "sum").expect("answer");
    let out = aggregate(&k.public, &[a[0].clone(), b[0].clone()], None).expect("sums");
    assert_eq!(decrypt_all(&k, &out), vec![(None, Number::Float(60.5))]);
    assert!(encrypt_answer(&k.public, &[], "median").is_err());
    assert!(aggregate(&k.public, &[], None).is_err());
    assert!(aggregate(&k.public, &[json!({"v": "0", "e": 0})], None).is_err());
}

#[tokio::test]
async fn reads_csv_and_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("p.csv");
    std::fs::write(&csv, "id,age\n1,40\n2,\n3,15.5\n").expect("write");
    let values = read_values(&DataSource::Csv {
        path: csv.clone(),
        column: "age".into(),
    })
    .await
    .expect("reads");
    assert_eq!(values, vec![Number::from(40), Number::Float(15.5)]);
    let missing = read_values(&DataSource::Csv {
        path: csv.clone(),
        column: "weight".into(),
    })
    .await;
    assert!(missing.unwrap_err().to_string().contains("no column"));
    std::fs::write(&csv, "age\nold\n").expect("write");
    let bad = read_values(&DataSource::Csv {
        path: csv,
        column: "age".into(),
    })
    .await;
    assert!(bad.unwrap_err().to_string().contains("row 2"));

    let db = dir.path().join("p.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute_batch("CREATE TABLE t (v); INSERT INTO t VALUES (7), (NULL), (2.5), ('3');")
        .expect("fill");
    drop(conn);
    let values = read_values(&DataSource::Sqlite {
        path: db.clone(),
        query: "SELECT v FROM t".into(),
    })
    .await
    .expect("reads");
    assert_eq!(values, vec![Number::from(7), Number::Float(2.5), Number::from(3)]);
    let bad = read_values(&DataSource::Sqlite {
        path: db,
        query: "SELECT nope FROM t".into(),
    })
    .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn reads_postgres_when_available() {
    // CI machines run PostgreSQL and set this; elsewhere the test has nothing to connect to.
    let Ok(url) = std::env::var("PETRI_TEST_DATABASE_URL") else {
        return;
    };
    let values = read_values(&DataSource::Postgres {
        url,
        query: "SELECT * FROM (VALUES (40::int), (NULL), (2.5::numeric)) AS t(x)".into(),
    })
    .await;
    match values {
        Ok(v) => assert_eq!(v, vec![Number::from(40), Number::Float(2.5)]),
        // No server at the URL on this machine: the error must say so clearly.
        Err(e) => assert!(e.to_string().contains("PostgreSQL"), "{e}"),
    }
}

#[test]
fn public_key_from_kwargs_or_args() {
    let k = hazmat::generate_keypair_any_size(&mut rand::rng(), 1024).expect("keygen");
    let mut spec = petri_sdk::model::FunctionSpec::default();
    assert!(process_public_key(&spec).is_err());
    spec.args = vec![json!(k.public.to_seed_base64())];
    assert_eq!(process_public_key(&spec).expect("from args"), k.public);
    spec.kwargs.insert(PUBKEY_KWARG.into(), json!("eyJuIjogIjQwNDI...."));
    assert!(
        process_public_key(&spec)
            .unwrap_err()
            .to_string()
            .contains(PUBKEY_KWARG)
    );
}

/// The masks of a session's contributors cancel modulo n, and only all of them together.
#[test]
fn masks_cancel_in_the_full_sum_only() {
    use crate::mask::{MaskKey, Session, contributors, mask, parse_public};
    let n = num_bigint::BigUint::from(2u32).pow(2048) - 159u32;
    let names: Vec<String> = ["c", "a", "b", "d"].iter().map(|s| s.to_string()).collect();
    let keys: Vec<MaskKey> = names.iter().map(|_| MaskKey::generate()).collect();
    let public = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map(|i| parse_public(&keys[i].public_base64()).expect("public"))
    };
    let masks_for = |session: &str| -> Vec<num_bigint::BigUint> {
        names
            .iter()
            .enumerate()
            .map(|(i, me)| {
                let sorted = contributors(&names, me).expect("contributors");
                let s = Session {
                    id: session,
                    me,
                    contributors: &sorted,
                };
                mask(&keys[i], public, &s, "sum", &n).expect("mask")
            })
            .collect()
    };
    let masks = masks_for("s1");
    let total = masks.iter().fold(num_bigint::BigUint::default(), |a, m| (a + m) % &n);
    assert_eq!(total, num_bigint::BigUint::default());
    let partial = masks[..3]
        .iter()
        .fold(num_bigint::BigUint::default(), |a, m| (a + m) % &n);
    assert!(partial.bits() > 1900, "a partial sum of masks is not random-looking");
    // Another session gives other masks.
    assert_ne!(masks_for("s2")[0], masks[0]);
    // Bad lists are refused.
    assert!(contributors(&["a".into(), "a".into()], "a").is_err());
    assert!(contributors(&["a".into(), "b".into()], "z").is_err());
}
