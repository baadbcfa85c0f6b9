//! cargo run --example embed -- "some text" "more text"
use sutra::{Embedder, EmbedderConfig};

fn main() -> Result<(), sutra::Error> {
    let texts: Vec<String> = std::env::args().skip(1).collect();
    let mut embedder = Embedder::new(EmbedderConfig::default())?;
    for (text, v) in texts.iter().zip(embedder.embed_batch(&texts)?) {
        println!("{}: [{:.4}, {:.4}, {:.4}, ...] ({} dims)", text, v[0], v[1], v[2], v.len());
    }
    Ok(())
}
