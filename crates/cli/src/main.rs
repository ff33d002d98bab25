//! `clipneurons`: the command-line front end. Each subcommand lives in `commands/`; this file only parses
//! arguments and turns errors into one clear line and a non-zero exit code.

mod args;
mod attack;
mod commands;
mod facets;
mod io;
mod label;
mod mine;
mod profile;
mod train;
mod viz;
mod world;

use clap::Parser;

fn main() {
    // `clipneurons examples RUN | head` must end quietly when `head` closes the pipe, as Unix tools do, instead of
    // panicking on the next print: restore the default SIGPIPE action that Rust's runtime replaces.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_DFL at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error ({info}); please report it with the command you ran");
    }));
    // Reuse freed heap instead of faulting in fresh zeroed pages for every tensor (see the kernels crate).
    clipneurons_kernels::tune_allocator();
    let cli = args::Cli::parse();
    if let Err(e) = commands::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
