//! Byte sizes in the configuration tree and on the command line.
//!
//! In: a YAML/JSON integer (bytes) or a string with a unit, such as
//! `"512MiB"`, `"1.5 GiB"` or `"64 MB"` (IEC units are powers of 1024, SI
//! units powers of 1000), as the `bytesize` crate reads them. Out: the number
//! of bytes as the setting's integer type, or an error naming the value.
//! Serialised back as a plain integer, so `spoor print-config` shows bytes.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Reads a byte size (integer or string with a unit) into `T`.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let size = bytesize::ByteSize::deserialize(deserializer)?;
    T::try_from(size.as_u64())
        .map_err(|_| D::Error::custom(format!("byte size {size} is too large")))
}

/// Writes a byte size as an integer number of bytes.
pub fn serialize<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Copy + TryInto<u64>,
{
    let bytes = (*value)
        .try_into()
        .map_err(|_| serde::ser::Error::custom("byte size does not fit in 64 bits"))?;
    serializer.serialize_u64(bytes)
}

/// Parses a command-line byte size (`512MiB`, `1GB`, `1048576`).
pub fn parse(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|error| {
            format!("{text:?} is not a byte size (bytes, or a number with a unit such as 512MiB or 1GB): {error}")
        })
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Limits {
        #[serde(with = "super")]
        big: u64,
        #[serde(with = "super")]
        small: usize,
    }

    fn read(yaml: &str) -> Result<Limits, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_and_units_are_bytes() {
        assert_eq!(
            read("big: 512MiB\nsmall: 1048576").unwrap(),
            Limits {
                big: 512 << 20,
                small: 1 << 20
            }
        );
        assert_eq!(read("big: 1 GiB\nsmall: 64KiB").unwrap().big, 1 << 30);
        assert_eq!(read("big: 2GB\nsmall: 1kB").unwrap().big, 2_000_000_000);
        assert_eq!(read("big: 1.5 GiB\nsmall: 0").unwrap().big, 3 << 29);
    }

    #[test]
    fn nonsense_is_an_error_naming_the_value() {
        let error = read("big: lots\nsmall: 1").unwrap_err();
        assert!(error.contains("lots"), "{error}");
        assert!(read("big: -1\nsmall: 1").is_err());
        assert!(super::parse("12 parsecs").unwrap_err().contains("parsecs"));
    }

    #[test]
    fn written_back_as_plain_bytes() {
        let yaml = serde_yaml::to_string(&Limits { big: 5, small: 7 }).unwrap();
        assert_eq!(yaml, "big: 5\nsmall: 7\n");
        assert_eq!(super::parse("256MiB"), Ok(256 << 20));
        assert_eq!(super::parse(" 4096 "), Ok(4096));
    }
}
