//! The `latedecay` binary: see `latedecay --help`.
use clap::Parser;

fn main() -> std::process::ExitCode {
    // A closed stdout (`latedecay … | head`) ends the process quietly, as it
    // does for other command-line tools, instead of a panic in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread
    // starts; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = latedecay::cli::Cli::parse();
    match latedecay::cli::main_with(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", latedecay::cli::error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
