//! `capmaas-release`: builds the release directory and the local clusterctl
//! repository (`manifests`), the image as an OCI layout without a container
//! engine (`oci-image`) and regenerates the reference pages (`docs`).
//! Used by `make release-manifests` and `make docs`; see `docs/release.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use release_tests::components::{ComponentsOptions, DEFAULT_IMAGE, release_version};
use release_tests::oci::{ImageOptions, host_architecture, write_image};
use release_tests::{CLI_REFERENCE, CRD_REFERENCE, cli_reference, crd_doc, release, tools};

#[derive(Debug, Subcommand)]
enum Command {
    /// Write <out>/release and the clusterctl repository <out>/repository.
    Manifests {
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Image repository (without tag) of the manager.
        #[arg(long, env = "CAPMAAS_IMAGE", default_value = DEFAULT_IMAGE)]
        image: String,
        /// Release version (also the image tag).
        #[arg(long, default_value_t = release_version())]
        version: String,
    },
    /// Assemble the manager image as an OCI image layout (and <out>.tar) from
    /// the static binaries, without a container engine.
    OciImage {
        /// Directory holding the static capmaas-manager and maas-sim.
        #[arg(long, default_value = "out/static")]
        bin_dir: PathBuf,
        /// Output directory of the layout.
        #[arg(long, default_value = "out/image/capmaas-manager")]
        out: PathBuf,
        /// Image repository (without tag).
        #[arg(long, env = "CAPMAAS_IMAGE", default_value = DEFAULT_IMAGE)]
        image: String,
        /// Tag.
        #[arg(long, default_value_t = release_version())]
        version: String,
        /// CA bundle to ship as /etc/ssl/certs/ca-certificates.crt ("" for none).
        #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
        ca_bundle: String,
    },
    /// Regenerate docs/reference/cli.md and docs/reference/crds.md.
    Docs {
        /// Directory holding the built capmaas-manager.
        #[arg(long)]
        bin_dir: PathBuf,
    },
}

/// Release artifacts of capmaas.
#[derive(Debug, Parser)]
#[command(name = "capmaas-release", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = tools::workspace_root();
    let result = match cli.command {
        Command::Manifests {
            out,
            image,
            version,
        } => {
            let options = ComponentsOptions { image, version };
            release::write_release(&root, &out, &options).map(|layout| {
                println!("release:    {}", layout.release_dir.display());
                println!("repository: {}", layout.version_dir.display());
                println!(
                    "clusterctl: --config {}",
                    layout.clusterctl_config.display()
                );
            })
        }
        Command::OciImage {
            bin_dir,
            out,
            image,
            version,
            ca_bundle,
        } => {
            let options = ImageOptions {
                bin_dir,
                out,
                repository: image,
                tag: version,
                architecture: host_architecture().to_owned(),
                ca_bundle: (!ca_bundle.is_empty()).then(|| PathBuf::from(ca_bundle)),
            };
            write_image(&options).map(|img| {
                println!("layout:   {}", img.dir.display());
                println!("archive:  {}", img.archive.display());
                println!("manifest: {}", img.manifest_digest);
                println!(
                    "load it:  skopeo copy oci:{}:{} docker-daemon:{}:{} (or podman load -i {})",
                    img.dir.display(),
                    options.tag,
                    options.repository,
                    options.tag,
                    img.archive.display()
                );
            })
        }
        Command::Docs { bin_dir } => (|| {
            let cli_md = cli_reference(&bin_dir)?;
            let crd_md = crd_doc::render_all()?;
            for (rel, text) in [(CLI_REFERENCE, cli_md), (CRD_REFERENCE, crd_md)] {
                let path = root.join(rel);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| release_tests::Error::Io {
                        action: "creating",
                        path: dir.to_owned(),
                        source: e,
                    })?;
                }
                std::fs::write(&path, format!("{text}\n")).map_err(|e| {
                    release_tests::Error::Io {
                        action: "writing",
                        path: path.clone(),
                        source: e,
                    }
                })?;
                println!("wrote {}", path.display());
            }
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capmaas-release: {e}");
            ExitCode::FAILURE
        }
    }
}
