//! Names for the codes the MCS phase reports. Unknown values give `None` (or a hex fallback in
//! lists) so the caller can show them raw.

/// TS_UD_CS_CORE / TS_UD_SC_CORE `version` for RDP 10.7 ([MS-RDPBCGR] 2.2.1.3.2, 2.2.1.4.2).
pub const RDP_VERSION_10_7: u32 = 0x0008_000C;

/// The RDP version a TS_UD_SC_CORE (or TS_UD_CS_CORE) `version` stands for
/// ([MS-RDPBCGR] 2.2.1.4.2; the same table is in nmap's `nselib/rdp.lua` up to 10.7).
pub fn rdp_version_name(version: u32) -> Option<&'static str> {
    Some(match version {
        0x0008_0001 => "RDP 4.0",
        0x0008_0004 => "RDP 5.0-8.1",
        0x0008_0005 => "RDP 10.0",
        0x0008_0006 => "RDP 10.1",
        0x0008_0007 => "RDP 10.2",
        0x0008_0008 => "RDP 10.3",
        0x0008_0009 => "RDP 10.4",
        0x0008_000A => "RDP 10.5",
        0x0008_000B => "RDP 10.6",
        0x0008_000C => "RDP 10.7",
        0x0008_000D => "RDP 10.8",
        0x0008_000E => "RDP 10.9",
        0x0008_000F => "RDP 10.10",
        0x0008_0010 => "RDP 10.11",
        0x0008_0011 => "RDP 10.12",
        _ => return None,
    })
}

/// TS_UD_SC_SEC1 `encryptionLevel` ([MS-RDPBCGR] 2.2.1.4.3).
pub fn encryption_level_name(level: u32) -> Option<&'static str> {
    Some(match level {
        0 => "ENCRYPTION_LEVEL_NONE",
        1 => "ENCRYPTION_LEVEL_LOW",
        2 => "ENCRYPTION_LEVEL_CLIENT_COMPATIBLE",
        3 => "ENCRYPTION_LEVEL_HIGH",
        4 => "ENCRYPTION_LEVEL_FIPS",
        _ => return None,
    })
}

/// The names of the bits set in an `encryptionMethod(s)` value ([MS-RDPBCGR] 2.2.1.3.3 /
/// 2.2.1.4.3). Unknown bits appear as `0x...`; 0 gives `["ENCRYPTION_METHOD_NONE"]`.
pub fn encryption_method_names(methods: u32) -> Vec<String> {
    if methods == 0 {
        return vec!["ENCRYPTION_METHOD_NONE".to_owned()];
    }
    (0..32)
        .map(|bit| 1u32 << bit)
        .filter(|b| methods & b != 0)
        .map(|b| match b {
            0x01 => "40BIT_ENCRYPTION_FLAG".to_owned(),
            0x02 => "128BIT_ENCRYPTION_FLAG".to_owned(),
            0x08 => "56BIT_ENCRYPTION_FLAG".to_owned(),
            0x10 => "FIPS_ENCRYPTION_FLAG".to_owned(),
            other => format!("0x{other:X}"),
        })
        .collect()
}

/// T.125 `Result` ([T.125] 7, Part 2: rt-successful (0) ... rt-user-rejected (15)), used by
/// Connect-Response, AttachUserConfirm and ChannelJoinConfirm.
pub fn connect_result_name(result: u8) -> Option<&'static str> {
    Some(match result {
        0 => "rt-successful",
        1 => "rt-domain-merging",
        2 => "rt-domain-not-hierarchical",
        3 => "rt-no-such-channel",
        4 => "rt-no-such-domain",
        5 => "rt-no-such-user",
        6 => "rt-not-admitted",
        7 => "rt-other-user-id",
        8 => "rt-parameters-unacceptable",
        9 => "rt-token-not-available",
        10 => "rt-token-not-possessed",
        11 => "rt-too-many-channels",
        12 => "rt-too-many-tokens",
        13 => "rt-too-many-users",
        14 => "rt-unspecified-failure",
        15 => "rt-user-rejected",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(rdp_version_name(0x0008_0004), Some("RDP 5.0-8.1"));
        assert_eq!(rdp_version_name(RDP_VERSION_10_7), Some("RDP 10.7"));
        assert_eq!(rdp_version_name(0x0008_0012), None);
        assert_eq!(
            encryption_level_name(2),
            Some("ENCRYPTION_LEVEL_CLIENT_COMPATIBLE")
        );
        assert_eq!(encryption_level_name(5), None);
        assert_eq!(
            encryption_method_names(0x1B),
            [
                "40BIT_ENCRYPTION_FLAG",
                "128BIT_ENCRYPTION_FLAG",
                "56BIT_ENCRYPTION_FLAG",
                "FIPS_ENCRYPTION_FLAG"
            ]
        );
        assert_eq!(encryption_method_names(0x104), ["0x4", "0x100"]);
        assert_eq!(encryption_method_names(0), ["ENCRYPTION_METHOD_NONE"]);
        assert_eq!(connect_result_name(0), Some("rt-successful"));
        assert_eq!(connect_result_name(8), Some("rt-parameters-unacceptable"));
        assert_eq!(connect_result_name(15), Some("rt-user-rejected"));
        assert_eq!(connect_result_name(16), None);
    }
}
