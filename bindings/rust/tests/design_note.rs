//! The design note's usage (../shared/seed), as written there, on the default model: a config with
//! `..Default::default()`, `Embedder::new`, `embed`, `embed_batch`, and a long document through
//! `embed_sliding_window` with Mean / Max / Weighted; flash attention on and off give the same
//! vector.
use sutra::{Aggregation, Attention, Embedder, EmbedderConfig, SlidingWindowConfig, Status};

fn long_document() -> String {
    // about 1,500 tokens of varied text
    let topics = ["the river", "a copper engine", "seven winters", "the quiet harbor", "yellow paper"];
    (0..150)
        .map(|i| format!("Paragraph {} tells of {} and what came after, in year {}.", i, topics[i % 5], 1900 + i * 7))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn the_design_note_example() -> Result<(), sutra::Error> {
    // Create config with Flash Attention for long sequences
    let config = EmbedderConfig {
        name: "all-MiniLM-L6-v2".to_string(),
        dimensions: 384,
        max_sequence_length: 512, // the model's whole position table
        use_flash_attention: true,
        flash_attention_threshold: 256, // flash for batches longer than 256 tokens
        ..Default::default()
    };
    let mut embedder = Embedder::new(config)?;
    let long_document = long_document();
    assert!(embedder.tokenize(&long_document)?.len() == 512, "the document fills the token limit");

    // Process long document (>256 tokens): flash attention
    let embedding = embedder.embed(&long_document)?;
    assert_eq!(embedding.len(), 384);
    let stats = embedder.stats();
    assert_eq!((stats.batches_flash, stats.batches_standard), (1, 0), "{:?}", stats);

    // the same with flash attention off: the standard path, the same vector
    let mut standard = Embedder::new(EmbedderConfig {
        max_sequence_length: 512,
        use_flash_attention: false,
        ..Default::default()
    })?;
    let plain = standard.embed(&long_document)?;
    assert_eq!(standard.stats().batches_standard, 1);
    let worst = embedding.iter().zip(&plain).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-5, "flash and standard differ by {}", worst);
    assert!(cosine(&embedding, &plain) > 0.99999);

    // Process 1,500 tokens as windows of 128 tokens
    let mut results = Vec::new();
    for aggregation in [Aggregation::Mean, Aggregation::Max, Aggregation::Weighted] {
        let window_config = SlidingWindowConfig { window_size: 128, overlap: 32, aggregation };
        let embeddings = embedder.embed_sliding_window(&long_document, &window_config)?;
        assert_eq!(embeddings.len(), 384);
        let norm: f32 = embeddings.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{:?}: norm {}", aggregation, norm);
        results.push(embeddings);
    }
    assert!(cosine(&results[0], &results[1]) < 0.9999, "max and mean should differ");
    assert!(results[0] != results[2], "weighted and mean should differ (the last window is shorter)");
    // windows of the whole document see all of it, truncation does not
    assert!(cosine(&results[0], &embedding) < 0.9999);

    // a text that fits one window gets exactly embed()'s vector
    let short = "A man is playing a guitar.";
    let window_config = SlidingWindowConfig { window_size: 128, overlap: 32, aggregation: Aggregation::Mean };
    assert_eq!(embedder.embed_sliding_window(short, &window_config)?, embedder.embed(short)?);
    Ok(())
}

#[test]
fn batches_equal_single_texts() -> Result<(), sutra::Error> {
    let mut embedder = Embedder::new(EmbedderConfig::default())?;
    let texts = ["A man is playing a guitar.", "Someone plays guitar.", "", "Déjà vu 東京"];
    let batch = embedder.embed_batch(&texts)?;
    for (t, row) in texts.iter().zip(&batch) {
        assert_eq!(&embedder.embed(t)?, row, "{}", t);
    }
    assert_eq!(embedder.tokenize("Hello, world!")?, vec![101, 7592, 1010, 2088, 999, 102]);
    let info = embedder.info()?;
    assert_eq!((info.architecture.as_str(), info.dimensions, info.max_tokens), ("bert", 384, 256));
    // moved to another thread and used there
    let handle = std::thread::spawn(move || embedder.embed("from another thread").map(|v| v.len()));
    assert_eq!(handle.join().unwrap()?, 384);
    Ok(())
}

#[test]
fn errors_are_rust_errors() {
    let err = Embedder::new(EmbedderConfig { name: "/no/such/model".into(), ..Default::default() }).err().unwrap();
    assert!(err.message.contains("not found"), "{}", err);
    let err = Embedder::new(EmbedderConfig { max_sequence_length: 100_000, ..Default::default() }).err().unwrap();
    assert_eq!(err.status, Status::InvalidArgument, "{}", err);
    let mut e = Embedder::new(EmbedderConfig { attention: Attention::Standard, ..Default::default() }).unwrap();
    let err = e.embed_batch(&["fine", "nul \0 inside"]).err().unwrap();
    assert!(err.message.contains("NUL") && err.message.contains("text 1"), "{}", err);
    // the seed's default window (512) is larger than this model's limit (256): a clear error
    let err = e.embed_sliding_window("text", &SlidingWindowConfig::default()).err().unwrap();
    assert_eq!(err.status, Status::InvalidArgument);
    assert!(err.to_string().contains("window"), "{}", err);
    let ok = e.embed_sliding_window("text", &SlidingWindowConfig::for_embedder(&e)).unwrap();
    assert_eq!(ok.len(), 384);
    let err = e.rerank("q", &["d"], false).err().unwrap();
    assert_eq!(err.status, Status::Unsupported);
    assert_eq!(e.embed("still fine").unwrap().len(), 384);
}
