//! Links the installed libsutra, found by the `pkg-config` program (module `sutra`, from
//! `cmake --install` / `make install`; set PKG_CONFIG_PATH for a prefix of your own), and lays out
//! the C structs the crate mirrors with the C compiler, so that tests/layout.rs can hold
//! src/ffi.rs to sutra.h.
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(args: &[&str]) -> String {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("sutra")
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config ({}): install it (Debian: pkg-config)", e));
    if !out.status.success() {
        panic!(
            "pkg-config cannot find sutra ({}): install the library (make install PREFIX=...) and set \
             PKG_CONFIG_PATH to PREFIX/lib/pkgconfig",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).expect("pkg-config output is not UTF-8")
}

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let mut includes = Vec::new();
    for flag in pkg_config(&["--cflags-only-I"]).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-I") {
            includes.push(dir.to_string());
        }
    }
    for flag in pkg_config(&["--libs"]).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            // the tests and examples run from the build tree: let them find the library where it lies
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={}", lib);
        }
    }
    if includes.is_empty() {
        // the compiler's own include path (a /usr install): ask where sutra.h lies
        let inc = pkg_config(&["--variable=includedir"]);
        includes.push(inc.trim().to_string());
    }

    // the sizes and offsets the C compiler gives the structs src/ffi.rs mirrors
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let fields: &[(&str, &[&str])] = &[
        ("sutra_config", &["model", "name", "dimensions", "max_sequence_length", "threads", "pooling",
                           "normalize", "max_batch_tokens", "use_flash_attention", "flash_attention_threshold",
                           "attention", "device", "gpu_index", "gpu_dtype", "prompt_name", "prompt", "models_dir",
                           "approximate_gelu", "cpu_isa", "gpu_graphs", "gpu_gemm", "gpu_flash_wgmma",
                           "gpu_layernorm_fold", "gpu_fold_min_tokens", "rerank_instruction", "profile", "hub"]),
        ("sutra_hub_options", &["cache_dir", "endpoint", "token", "offline", "progress", "progress_data"]),
        ("sutra_window", &["size", "overlap", "aggregate"]),
        ("sutra_stats", &["texts", "tokens", "batches", "batches_standard", "batches_flash", "truncated",
                          "last_path", "last_batch_max_len"]),
        ("sutra_model_info", &["name", "path", "architecture", "hidden_size", "vector_size", "num_layers",
                               "max_tokens", "dim", "pooling", "normalize", "device", "attention",
                               "flash_threshold", "score_activation", "threads_source"]),
    ];
    let mut c = String::from("#include <stddef.h>\n#include <stdio.h>\n#include \"sutra.h\"\nint main(void) {\n");
    for (st, fs) in fields {
        c.push_str(&format!("printf(\"{0} %zu\\n\", sizeof({0}));\n", st));
        for f in fs.iter() {
            c.push_str(&format!("printf(\"{0}.{1} %zu\\n\", offsetof({0}, {1}));\n", st, f));
        }
    }
    c.push_str("return 0; }\n");
    let src = out_dir.join("layout.c");
    let exe = out_dir.join("layout");
    fs::write(&src, c).unwrap();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let mut cmd = Command::new(&cc);
    cmd.arg("-std=c11");
    for i in &includes {
        cmd.arg(format!("-I{}", i));
    }
    let status = cmd.arg(&src).arg("-o").arg(&exe).status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {} ({}) to lay out sutra.h", cc, e));
    assert!(status.success(), "the C compiler could not compile sutra.h's layout");
    let out = Command::new(&exe).output().expect("cannot run the layout program");
    let mut rs = String::from("/// (\"struct\" or \"struct.field\", size or offset) as the C compiler lays out sutra.h\n");
    rs.push_str("pub const C_LAYOUT: &[(&str, usize)] = &[\n");
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut it = line.rsplitn(2, ' ');
        let n = it.next().unwrap();
        let key = it.next().unwrap();
        rs.push_str(&format!("    (\"{}\", {}),\n", key, n));
    }
    rs.push_str("];\n");
    fs::write(out_dir.join("layout.rs"), rs).unwrap();
}
