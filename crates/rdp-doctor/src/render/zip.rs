//! A ZIP archive of stored (uncompressed) entries, for `check --bundle` (APPNOTE.TXT 6.3.10:
//! local file headers, the central directory, the end record; CRC-32 of each entry). A few
//! hundred KB of text does not need compression, and stored entries open everywhere
//! (Windows Explorer, `unzip`, Python's `zipfile`). Pure: the bytes go to any `Write`.

use std::io::{self, Write};

/// One file in the archive: a relative name (forward slashes) and its bytes.
pub struct Entry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as ZIP stores it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// MS-DOS date and time of a Unix time (UTC), as ZIP headers hold them; 1980-01-01 for
/// earlier times.
pub fn dos_time(unix: i64) -> (u16, u16) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return (0, (1 << 5) | 1);
    };
    if t.year() < 1980 || t.year() > 2107 {
        return (0, (1 << 5) | 1);
    }
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    let date = (((t.year() - 1980) as u16) << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    (time, date)
}

/// Writes `entries` as a ZIP archive, every entry dated `unix` (UTC). Names are stored as
/// UTF-8 (flag bit 11). Fails on an entry of 4 GiB or more, or more than 65535 entries (no
/// ZIP64 here).
pub fn write(entries: &[Entry<'_>], unix: i64, w: &mut dyn Write) -> io::Result<()> {
    if entries.len() > usize::from(u16::MAX) {
        return Err(io::Error::other("too many files for a ZIP archive"));
    }
    let (time, date) = dos_time(unix);
    let mut offset: u64 = 0;
    let mut central = Vec::new();
    for e in entries {
        let size = u32::try_from(e.data.len())
            .map_err(|_| io::Error::other(format!("{} is too large for a ZIP archive", e.name)))?;
        let name = e.name.as_bytes();
        let name_len = u16::try_from(name.len()).map_err(|_| io::Error::other("name too long"))?;
        let crc = crc32(e.data);
        let local_offset = u32::try_from(offset)
            .map_err(|_| io::Error::other("the archive would exceed 4 GiB"))?;
        // local file header
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        h.extend_from_slice(&0x0800u16.to_le_bytes()); // UTF-8 names
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&time.to_le_bytes());
        h.extend_from_slice(&date.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&name_len.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        h.extend_from_slice(name);
        w.write_all(&h)?;
        w.write_all(e.data)?;
        offset += h.len() as u64 + u64::from(size);
        // central directory record
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix, 2.0
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0x0800u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&time.to_le_bytes());
        central.extend_from_slice(&date.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk number, internal attributes
        central.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // -rw-r--r--
        central.extend_from_slice(&local_offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset =
        u32::try_from(offset).map_err(|_| io::Error::other("the archive would exceed 4 GiB"))?;
    let cd_size = u32::try_from(central.len()).map_err(|_| io::Error::other("directory size"))?;
    let count = entries.len() as u16;
    w.write_all(&central)?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0; 4]); // this disk, the directory's disk
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&cd_size.to_le_bytes());
    end.extend_from_slice(&cd_offset.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes()); // comment length
    w.write_all(&end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // the CRC-32 check value of "123456789" (IEEE 802.3)
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn dos_time_counts_from_1980_in_two_second_steps() {
        // 2026-12-06T04:49:15Z
        let (t, d) = dos_time(1_796_532_555);
        assert_eq!(d >> 9, 46);
        assert_eq!((d >> 5) & 0xF, 12);
        assert_eq!(d & 0x1F, 6);
        assert_eq!((t >> 11, (t >> 5) & 0x3F, t & 0x1F), (4, 49, 7));
        assert_eq!(dos_time(0), (0, 33));
    }

    #[test]
    fn an_archive_has_its_entries_and_a_directory_at_the_end() {
        let mut out = Vec::new();
        write(
            &[
                Entry {
                    name: "a.txt",
                    data: b"hello",
                },
                Entry {
                    name: "dir/b.json",
                    data: b"{}",
                },
            ],
            1_796_532_555,
            &mut out,
        )
        .expect("zip");
        assert_eq!(out.get(..4), Some(&b"PK\x03\x04"[..]));
        let end = out.len() - 22;
        assert_eq!(out.get(end..end + 4), Some(&b"PK\x05\x06"[..]));
        assert_eq!(out.get(end + 10..end + 12), Some(&[2u8, 0][..]));
        assert_eq!(out.matches_count(b"PK\x01\x02"), 2);
    }

    trait Count {
        fn matches_count(&self, needle: &[u8]) -> usize;
    }
    impl Count for Vec<u8> {
        fn matches_count(&self, needle: &[u8]) -> usize {
            self.windows(needle.len()).filter(|w| *w == needle).count()
        }
    }
}
