fn main() -> std::process::ExitCode {
    moodlectl::main()
}
