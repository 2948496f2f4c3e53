//! A serde serializer that feeds a compact, unambiguous binary encoding straight into XXH3:
//! every value is a type tag followed by its bytes (integers little-endian, strings
//! length-prefixed, compounds closed by an end tag, struct fields by name), so different values
//! never produce the same stream. It exists because formatting JSON only to hash it was most of
//! the hashing time.

use serde::ser::{self, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// The hashing serializer.
pub(super) struct Hasher<'h>(pub(super) &'h mut Xxh3);

/// Serializing into a hasher cannot fail; serde still wants an error type.
#[derive(Debug)]
pub(super) struct Never(String);

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Never(msg.to_string())
    }
}

impl Hasher<'_> {
    fn tag(&mut self, t: u8) {
        self.0.update(&[t]);
    }

    fn bytes(&mut self, t: u8, b: &[u8]) {
        self.tag(t);
        self.0.update(&(b.len() as u64).to_le_bytes());
        self.0.update(b);
    }
}

macro_rules! ints {
    ($($method:ident: $ty:ty = $tag:expr;)*) => {$(
        fn $method(self, v: $ty) -> Result<(), Never> {
            self.tag($tag);
            self.0.update(&v.to_le_bytes());
            Ok(())
        }
    )*};
}

impl<'h> ser::Serializer for &mut Hasher<'h> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    ints! {
        serialize_i8: i8 = 1; serialize_i16: i16 = 2; serialize_i32: i32 = 3; serialize_i64: i64 = 4;
        serialize_u8: u8 = 5; serialize_u16: u16 = 6; serialize_u32: u32 = 7; serialize_u64: u64 = 8;
        serialize_f32: f32 = 9; serialize_f64: f64 = 10; serialize_i128: i128 = 11; serialize_u128: u128 = 12;
    }

    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.0.update(&[13, u8::from(v)]);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.tag(14);
        self.0.update(&u32::from(v).to_le_bytes());
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.bytes(15, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Never> {
        self.bytes(16, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Never> {
        self.tag(17);
        Ok(())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Never> {
        self.tag(18);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Never> {
        self.tag(19);
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.bytes(20, variant.as_bytes());
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.bytes(21, variant.as_bytes());
        value.serialize(self)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Never> {
        self.tag(22);
        Ok(self)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self, Never> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        self.serialize_seq(None)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.bytes(21, variant.as_bytes());
        self.serialize_seq(None)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self, Never> {
        self.tag(23);
        Ok(self)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        self.tag(24);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.bytes(21, variant.as_bytes());
        self.serialize_struct("", 0)
    }
}

// Every compound ends with tag 0, so `[[a], b]` and `[[a, b]]` differ.
macro_rules! compound {
    ($($trait:ident { $method:ident $(($key:ident))? })*) => {$(
        impl ser::$trait for &mut Hasher<'_> {
            type Ok = ();
            type Error = Never;
            fn $method<T: ?Sized + Serialize>(
                &mut self,
                $($key: &'static str,)?
                value: &T,
            ) -> Result<(), Never> {
                $(self.bytes(25, $key.as_bytes());)?
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Never> {
                self.tag(0);
                Ok(())
            }
        }
    )*};
}

compound! {
    SerializeSeq { serialize_element }
    SerializeTuple { serialize_element }
    SerializeTupleStruct { serialize_field }
    SerializeTupleVariant { serialize_field }
    SerializeStruct { serialize_field(key) }
    SerializeStructVariant { serialize_field(key) }
}

impl ser::SerializeMap for &mut Hasher<'_> {
    type Ok = ();
    type Error = Never;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Never> {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Never> {
        self.tag(0);
        Ok(())
    }
}
