//! Wheels for tests: zip archives (stored members) with a `METADATA`.
//! Included by the xtask tests with `#[path = "support/wheel.rs"] mod test_wheel;`.

#![allow(dead_code)]

/// A zip archive (stored members), as a wheel is.
pub fn zip_stored(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let off = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u32.to_le_bytes()); // time, date
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04]);
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02]);
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A wheel whose METADATA lists `requires` (`Requires-Dist` values).
pub fn wheel(name: &str, version: &str, requires: &[&str]) -> Vec<u8> {
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: x\n        \n        continued\n");
    for r in requires {
        meta += &format!("Requires-Dist: {r}\n");
    }
    meta += "\nRequires-Dist: not-a-header (description)\n";
    let dist = format!("{}-{version}.dist-info", name.replace('-', "_"));
    zip_stored(&[
        (
            &format!("{}/__init__.py", name.replace('-', "_")),
            b"" as &[u8],
        ),
        (&format!("{dist}/METADATA"), meta.as_bytes()),
    ])
}
