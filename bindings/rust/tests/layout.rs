//! src/ffi.rs against include/sutra.h: every struct's size and the offset of every field build.rs
//! asked the C compiler about.
use std::mem::size_of;
use sutra::layout::*;

macro_rules! offset_of {
    ($t:ty, $f:ident) => {{
        let v = std::mem::MaybeUninit::<$t>::uninit();
        let base = v.as_ptr();
        // SAFETY: only the field's address is taken, never read
        let field = unsafe { std::ptr::addr_of!((*base).$f) };
        field as usize - base as usize
    }};
}

fn c(key: &str) -> usize {
    C_LAYOUT.iter().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("build.rs did not lay out {}", key)).1
}

#[test]
fn structs_match_the_header() {
    assert_eq!(size_of::<sutra_config>(), c("sutra_config"));
    assert_eq!(size_of::<sutra_hub_options>(), c("sutra_hub_options"));
    assert_eq!(size_of::<sutra_window>(), c("sutra_window"));
    assert_eq!(size_of::<sutra_stats>(), c("sutra_stats"));
    assert_eq!(size_of::<sutra_model_info>(), c("sutra_model_info"));
    macro_rules! check {
        ($t:ident: $($f:ident),*) => {
            $(assert_eq!(offset_of!($t, $f), c(concat!(stringify!($t), ".", stringify!($f))),
                         concat!(stringify!($t), ".", stringify!($f)));)*
        };
    }
    check!(sutra_config: model, name, dimensions, max_sequence_length, threads, pooling, normalize, max_batch_tokens,
           use_flash_attention, flash_attention_threshold, attention, device, gpu_index, gpu_dtype, prompt_name,
           prompt, models_dir, approximate_gelu, cpu_isa, gpu_graphs, gpu_gemm, gpu_flash_wgmma, gpu_layernorm_fold,
           gpu_fold_min_tokens, rerank_instruction, profile, hub);
    check!(sutra_hub_options: cache_dir, endpoint, token, offline, progress, progress_data);
    check!(sutra_window: size, overlap, aggregate);
    check!(sutra_stats: texts, tokens, batches, batches_standard, batches_flash, truncated, last_path,
           last_batch_max_len);
    check!(sutra_model_info: name, path, architecture, hidden_size, vector_size, num_layers, max_tokens, dim, pooling,
           normalize, device, attention, flash_threshold, score_activation, threads_source);
}
