//! Every error type of the core as a `core::error::Error`, so that `?` carries it into a
//! `Box<dyn Error>` in a program with std. The types and their messages live beside the
//! code that reports them; this module only adds the trait (and the detokenizer's message).
#![forbid(unsafe_code)]

use crate::constrain::ConstrainError;
use crate::gguf::GgufError;
use crate::grammar::GrammarError;
use crate::model::ModelError;
use crate::plan::PlanError;
use crate::quant::QuantError;
use crate::sample::SampleError;
use crate::session::SessionError;
use crate::state::StateError;
use crate::text::{DetokenizeError, TextError};
use core::error::Error;
use core::fmt;

impl Error for ConstrainError {}
impl Error for GgufError {}
impl Error for GrammarError {}
impl Error for ModelError {}
impl Error for PlanError {}
impl Error for QuantError {}
impl Error for SampleError {}
impl Error for SessionError {}
impl Error for TextError {}
impl<E: fmt::Debug> Error for StateError<E> {}

impl<E: fmt::Debug> fmt::Display for DetokenizeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetokenizeError::Text(e) => write!(f, "{e}"),
            DetokenizeError::Sink(e) => write!(f, "the output refused the text: {e:?}"),
        }
    }
}

impl<E: fmt::Debug> Error for DetokenizeError<E> {}
