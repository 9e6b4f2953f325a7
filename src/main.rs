//! The `settee` binary: settings → tracing → storage → HTTP server.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let config = settee::config::Config::parse();
    settee::logging::init();
    let run = actix_web::rt::System::new().block_on(async move {
        let server = settee::Server::start(config).await?;
        println!("Settee listening on {}", server.url());
        if let Some(url) = server.tls_url() {
            println!("Settee listening on {url}");
        }
        server.wait().await
    });
    match run {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("settee: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
