//! Authoring a kernel: the `init` scaffold, the kernel card (`fill-card`)
//! and the skills for AI coding assistants. Functions take typed options
//! and return reports or [`kb_core::Error`].

pub mod card;
pub mod init;
pub mod skills;
