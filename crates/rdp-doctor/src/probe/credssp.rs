//! The CredSSP step without credentials: a TSRequest carrying an NTLM NEGOTIATE, and what the
//! server's answer tells: its TSRequest version (below 5 = no CVE-2018-0886 fix), an errorCode,
//! and the NTLM CHALLENGE's target info (names, OS build, the server's clock).

use super::net::{self, FrameProgress, ReadEnd};
use crate::facts::{CredsspFact, CredsspOutcome, NtlmInfo};
use crate::sanitize::escape;
use rdp_doctor_wire::credssp::{self, FrameStatus, TsRequest};
use rdp_doctor_wire::ntlm::{self, av_id, Challenge, Negotiate};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub fn progress(buf: &[u8]) -> FrameProgress {
    match credssp::frame_status(buf) {
        FrameStatus::Complete { len } => FrameProgress::Complete(len),
        FrameStatus::Incomplete { .. } => FrameProgress::NeedMore,
        FrameStatus::Invalid(_) => FrameProgress::Invalid,
    }
}

/// Sends the NEGOTIATE and classifies the answer. `now_unix` judges the server's clock.
pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    timeout: Duration,
    now_unix: i64,
) -> CredsspFact {
    let start = Instant::now();
    let mut fact = CredsspFact::empty();
    let req = TsRequest::with_token(
        credssp::VERSION_CURRENT,
        Negotiate::modern_client().encode(),
    );
    let sent = async {
        s.write_all(&req.encode()).await?;
        s.flush().await
    };
    if let Err(e) = tokio::time::timeout(timeout, sent)
        .await
        .unwrap_or(Err(std::io::ErrorKind::TimedOut.into()))
    {
        fact.outcome = match net::io_end(&e) {
            ReadEnd::Reset => CredsspOutcome::Reset,
            ReadEnd::Eof => CredsspOutcome::Closed,
            _ => CredsspOutcome::Timeout,
        };
        fact.error = Some(e.to_string());
        fact.duration_ms = net::ms(start.elapsed());
        return fact;
    }
    let mut buf = Vec::new();
    let end = net::read_frame(s, &mut buf, credssp::MAX_TS_REQUEST_LEN, timeout, progress).await;
    fact.duration_ms = net::ms(start.elapsed());
    fact.server_bytes = buf.len();
    classify(&end, &buf, now_unix, &mut fact);
    fact
}

/// Fills `fact` from what arrived. Pure.
pub fn classify(end: &ReadEnd, buf: &[u8], now_unix: i64, fact: &mut CredsspFact) {
    let len = match end {
        ReadEnd::Frame { len } => *len,
        ReadEnd::Timeout => {
            fact.outcome = CredsspOutcome::Timeout;
            return;
        }
        ReadEnd::Eof => {
            fact.outcome = CredsspOutcome::Closed;
            return;
        }
        ReadEnd::Reset => {
            fact.outcome = CredsspOutcome::Reset;
            return;
        }
        ReadEnd::Invalid => {
            fact.outcome = CredsspOutcome::Malformed;
            fact.error = Some(format!(
                "not a TSRequest: {}",
                crate::sanitize::hex(buf, 16)
            ));
            return;
        }
        ReadEnd::Error(e) => {
            fact.outcome = CredsspOutcome::Reset;
            fact.error = Some(e.clone());
            return;
        }
    };
    let ts = match TsRequest::decode(buf.get(..len).unwrap_or(buf)) {
        Ok(t) => t,
        Err(e) => {
            fact.outcome = CredsspOutcome::Malformed;
            fact.error = Some(e.to_string());
            return;
        }
    };
    fact.server_version = Some(ts.version);
    fact.error_code = ts.error_code;
    if ts.error_code.is_some() {
        fact.outcome = CredsspOutcome::ServerError;
    }
    let Some(token) = ts.first_token() else {
        if fact.error_code.is_none() {
            fact.outcome = CredsspOutcome::Malformed;
            fact.error = Some("a TSRequest without negoTokens".into());
        }
        return;
    };
    match Challenge::decode(token) {
        Ok(ch) => {
            fact.ntlm = Some(ntlm_info(&ch, now_unix));
            if fact.error_code.is_none() {
                fact.outcome = CredsspOutcome::Challenge;
            }
        }
        Err(e) => {
            if fact.error_code.is_none() {
                fact.outcome = CredsspOutcome::Malformed;
            }
            fact.error = Some(format!(
                "the negoToken is not an NTLM CHALLENGE: {}",
                escape(&e.to_string())
            ));
        }
    }
}

/// The target info of a CHALLENGE, with the clock difference to `now_unix`.
pub fn ntlm_info(ch: &Challenge, now_unix: i64) -> NtlmInfo {
    let s = |id| ch.av_string(id).map(String::from);
    let server_unix = ch.timestamp().map(ntlm::filetime_to_unix_seconds);
    NtlmInfo {
        target_name: Some(ch.target_name.clone()).filter(|t| !t.is_empty()),
        netbios_computer: s(av_id::NB_COMPUTER_NAME),
        netbios_domain: s(av_id::NB_DOMAIN_NAME),
        dns_computer: s(av_id::DNS_COMPUTER_NAME),
        dns_domain: s(av_id::DNS_DOMAIN_NAME),
        dns_tree: s(av_id::DNS_TREE_NAME),
        os_version: ch
            .version
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.build)),
        server_time: server_unix.map(crate::cert::rfc3339),
        clock_skew_seconds: server_unix.map(|t| t - now_unix),
        negotiate_flags: ch.flags.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdp_doctor_wire::ntlm::{server_challenge, TargetNames, Version};

    fn answer(version: u32, error: Option<u32>, ts: Option<u64>) -> Vec<u8> {
        let ch = server_challenge(
            &Negotiate::modern_client(),
            [1; 8],
            &TargetNames {
                nb_computer: Some("SRV01".into()),
                nb_domain: Some("CORP".into()),
                dns_computer: Some("srv01.corp.example".into()),
                dns_domain: Some("corp.example".into()),
                dns_tree: Some("corp.example".into()),
            },
            ts,
            Some(Version {
                major: 10,
                minor: 0,
                build: 17763,
                revision: 15,
            }),
        );
        let mut t = TsRequest::with_token(version, ch.encode());
        t.error_code = error;
        t.encode()
    }

    fn run(bytes: &[u8], now: i64) -> CredsspFact {
        let mut f = CredsspFact {
            server_bytes: bytes.len(),
            ..CredsspFact::empty()
        };
        let end = match progress(bytes) {
            FrameProgress::Complete(len) => ReadEnd::Frame { len },
            _ => ReadEnd::Invalid,
        };
        classify(&end, bytes, now, &mut f);
        f
    }

    #[test]
    fn reads_the_target_info_and_clock() {
        let now = 1_790_000_000;
        let f = run(
            &answer(
                6,
                None,
                Some(ntlm::unix_seconds_to_filetime(now + 4 * 3600)),
            ),
            now,
        );
        assert_eq!(f.outcome, CredsspOutcome::Challenge);
        assert_eq!(f.server_version, Some(6));
        let n = f.ntlm.expect("ntlm");
        assert_eq!(n.netbios_computer.as_deref(), Some("SRV01"));
        assert_eq!(n.dns_domain.as_deref(), Some("corp.example"));
        assert_eq!(n.os_version.as_deref(), Some("10.0.17763"));
        assert_eq!(n.clock_skew_seconds, Some(4 * 3600));
    }

    #[test]
    fn old_version_and_error_codes() {
        let f = run(&answer(3, None, None), 0);
        assert_eq!(f.server_version, Some(3));
        assert_eq!(f.outcome, CredsspOutcome::Challenge);
        let f = run(&answer(6, Some(0xC000_006D), None), 0);
        assert_eq!(f.outcome, CredsspOutcome::ServerError);
        assert_eq!(f.error_code, Some(0xC000_006D));
        assert_eq!(
            run(b"HTTP/1.1 400\r\n", 0).outcome,
            CredsspOutcome::Malformed
        );
    }
}
