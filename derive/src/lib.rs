//! `#[derive(Zeroable)]` for arenapool: implements `arenapool::Zeroable`
//! (bytemuck's trait, re-exported) through the path `::arenapool`, so that
//! a crate that depends on arenapool alone can derive it. (bytemuck's own
//! derive names `::bytemuck`, which such a crate does not have.)
//!
//! For a struct or union, all-zero bytes are a valid value exactly when they
//! are for every field: the derive checks each field's type is `Zeroable`
//! (a compile error naming the field otherwise) and bounds each type
//! parameter by `Zeroable`, as bytemuck's derive does. Enums are refused:
//! whether zero is a valid discriminant depends on the representation, so
//! write that `unsafe impl` by hand.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, parse_quote, Data, DeriveInput, Error, Fields};

/// Derives `arenapool::Zeroable` for a struct or union whose fields are
/// all `Zeroable`.
///
/// ```ignore
/// #[derive(Clone, Copy, arenapool::Zeroable)]
/// #[repr(C)]
/// struct TokenC { lex: u32, head: i32, spacy: bool }
/// ```
#[proc_macro_derive(Zeroable)]
pub fn derive_zeroable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let fields: Vec<_> = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => named.named.iter().collect(),
            Fields::Unnamed(unnamed) => unnamed.unnamed.iter().collect(),
            Fields::Unit => Vec::new(),
        },
        Data::Union(data) => data.fields.named.iter().collect(),
        Data::Enum(data) => {
            return Err(Error::new(
                data.enum_token.span(),
                "arenapool: #[derive(Zeroable)] takes structs and unions; for an enum, \
                 write `unsafe impl arenapool::Zeroable` by hand if its zero discriminant \
                 and that variant's fields are valid when all-zero",
            ))
        }
    };
    // Each field's type must be Zeroable: checked where the field is
    // written, so the error points at it.
    let checks = fields.iter().map(|field| {
        let ty = &field.ty;
        quote_spanned! {ty.span()=>
            __assert_zeroable::<#ty>();
        }
    });
    for param in input.generics.type_params_mut() {
        param.bounds.push(parse_quote!(::arenapool::Zeroable));
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let check_fn = syn::Ident::new("__arenapool_zeroable_fields", Span::call_site());
    Ok(quote! {
        // SAFETY: every field's type is `Zeroable` (checked below), so the
        // all-zero bit pattern is a valid value of each field and so of the
        // whole (padding may hold anything).
        unsafe impl #impl_generics ::arenapool::Zeroable for #name #ty_generics #where_clause {}

        const _: () = {
            #[allow(dead_code, non_snake_case)]
            fn #check_fn #impl_generics () #where_clause {
                fn __assert_zeroable<T: ?::core::marker::Sized + ::arenapool::Zeroable>() {}
                #(#checks)*
            }
        };
    })
}
