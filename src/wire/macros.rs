//! Macros shared by the wire modules.

/// Declare a protocol-number enum that keeps unknown values.
///
/// ```ignore
/// enum_with_unknown! {
///     /// Doc.
///     pub enum EtherType(u16) { Ipv4 = 0x0800, Arp = 0x0806 }
/// }
/// ```
/// expands to an enum with the listed variants plus `Unknown(u16)`, and
/// `From<u16>` / `From<EtherType> for u16` conversions that round-trip.
macro_rules! enum_with_unknown {
    (
        $( #[$enum_attr:meta] )*
        pub enum $name:ident($ty:ty) {
            $(
              $( #[$variant_attr:meta] )*
              $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $( #[$enum_attr] )*
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Clone, Copy)]
        pub enum $name {
            $(
              $( #[$variant_attr] )*
              $variant
            ),*,
            /// A value this implementation does not name.
            Unknown($ty)
        }

        impl ::core::convert::From<$ty> for $name {
            #[inline]
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),*,
                    other => $name::Unknown(other)
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            #[inline]
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other
                }
            }
        }
    }
}
