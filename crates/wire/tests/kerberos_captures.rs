//! KRB-ERRORs a real MIT KDC sent, decoded field by field (captures/kerberos/, see the README
//! there): the KDC's clock, the error code, e-text, and for PREAUTH_REQUIRED the ETYPE-INFO2
//! salt the string-to-key needs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use rdp_doctor_wire::kerberos::messages::pa_type;
use rdp_doctor_wire::kerberos::{decode_kdc_answer, KdcAnswer};

fn capture(name: &str) -> rdp_doctor_wire::kerberos::messages::KrbError {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/captures/kerberos")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    match decode_kdc_answer(&bytes).unwrap() {
        KdcAnswer::Error(e) => {
            // re-encoding gives the KDC's bytes back (MIT writes DER)
            assert_eq!(e.encode(), bytes, "{name}");
            e
        }
        KdcAnswer::Rep(_) => panic!("{name}: not a KRB-ERROR"),
    }
}

#[test]
fn mit_preauth_required_names_the_salt_and_the_kdc_clock() {
    let e = capture("mit-1.20-preauth-required-etype-info2");
    assert_eq!(e.error_code, 25);
    assert_eq!(e.e_text.as_deref(), Some("NEEDED_PREAUTH"));
    assert_eq!(e.realm, "RDPDOC.TEST");
    assert_eq!(e.sname.to_string(), "krbtgt/RDPDOC.TEST");
    assert_eq!(e.stime, 1_796_524_721, "20261206023841Z");
    let types: Vec<i32> = e.method_data().unwrap().iter().map(|p| p.pa_type).collect();
    assert_eq!(
        types,
        [
            pa_type::FX_FAST,
            pa_type::ETYPE_INFO2,
            pa_type::ENC_TIMESTAMP,
            pa_type::FX_COOKIE
        ]
    );
    let info = e.etype_info2().unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].etype, 18);
    assert_eq!(info[0].salt.as_deref(), Some("RDPDOC.TESTalice"));
    assert_eq!(
        info[0].s2kparams, None,
        "MIT sends no s2kparams: 4096 iterations"
    );
}

#[test]
fn mit_refusals_before_pre_authentication() {
    for (name, code, text) in [
        ("mit-1.20-client-not-found", 6, "CLIENT_NOT_FOUND"),
        ("mit-1.20-client-revoked", 18, "CLIENT LOCKED OUT"),
        ("mit-1.20-key-expired", 23, "CLIENT KEY EXPIRED"),
        ("mit-1.20-etype-nosupp", 14, "CANT_FIND_CLIENT_KEY"),
    ] {
        let e = capture(name);
        assert_eq!(e.error_code, code, "{name}");
        assert_eq!(e.e_text.as_deref(), Some(text), "{name}");
        assert_eq!(
            e.e_data, None,
            "{name}: MIT sends no [MS-KILE] extended error"
        );
        assert_eq!(e.extended_status(), None);
    }
    // An RC4-only account asked for AES only: PREAUTH_REQUIRED without ETYPE-INFO2.
    let e = capture("mit-1.20-preauth-required-no-etype-info2");
    assert_eq!(e.error_code, 25);
    assert_eq!(e.etype_info2(), None);
}
