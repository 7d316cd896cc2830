//! `armlet serve`'s parts: the HTTP exchange (http) and the endpoints' JSON (api). The
//! command itself, with the worker that owns the model, is commands::serve.

pub mod api;
pub mod http;
