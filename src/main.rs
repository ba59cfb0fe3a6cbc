//! Entry point: everything is wired in [`netlens::app`].

fn main() -> std::process::ExitCode {
    netlens::app::main()
}
