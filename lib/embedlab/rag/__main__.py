"""The command line: ``python -m embedlab.rag ingest | search | answer | evaluate | adapt |
evaluate-deep``; ``--help`` on each says more. Book: Chapter 6, "Putting it together".
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from embedlab.rag.adaptation import AdaptationConfig, adapted_minilm
from embedlab.rag.chunking import ChunkingConfig
from embedlab.rag.corpora import wikipedia_documents, wikipedia_questions
from embedlab.rag.cross_encoder import CrossEncoderConfig, trained_reranker
from embedlab.rag.evaluation import evaluate_retrievers
from embedlab.rag.generation import GENERATORS
from embedlab.rag.passage_questions import SPLITS, passage_questions
from embedlab.rag.pipeline import MODES, SEARCH_HYBRID_WEIGHT, IngestReport, answer, ingest, search
from embedlab.rag.remedies import (MODELS, RERANKERS, SEARCH_RERANKERS, cheap_remedy_report, deep_report,
                                   encoder_by_name, reranker_by_name, sample_chunks, wikipedia_retriever)
from embedlab.rag.retrieval import SEARCH_METHODS, Retriever


DB_HELP = ("a Milvus Lite folder (e.g. notes.db), or a Milvus server, http(s)://host:port, whose token, "
           "if it needs one, is read from the environment variable MILVUS_TOKEN")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m embedlab.rag",
                                     description="Semantic search and retrieval-augmented answers (Chapter 6).")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_command = commands.add_parser("ingest", help="build a database from documents")
    ingest_command.add_argument("source", help="a folder of .txt/.md files, 'wikipedia-sample' or 'help-centre'")
    ingest_command.add_argument("--db", required=True, help=DB_HELP + "; made if it is a new folder")
    ingest_command.add_argument("--mode", choices=MODES, default="replace",
                                help="replace (the default): the database ends up holding exactly the source's "
                                     "documents; add: it also keeps the documents the source does not have. In "
                                     "both, unchanged documents keep their vectors, changed ones are replaced, and "
                                     "the output counts the documents and chunks added, replaced, kept, removed "
                                     "and skipped. The old database stays in use until the new one is complete")
    ingest_command.add_argument("--max-tokens", type=int, default=ChunkingConfig.max_tokens)
    ingest_command.add_argument("--overlap", type=int, default=ChunkingConfig.overlap)
    ingest_command.add_argument("--quiet", action="store_true", help="no progress bars")
    model_help = ("the encoder: base (all-MiniLM-L6-v2, the default) or adapted (MiniLM fine-tuned on the "
                  "Wikipedia sample by 'adapt'; trained first if it is not cached, minutes on a CPU)")
    ingest_command.add_argument("--model", choices=MODELS, default="base",
                                help=model_help + "; the database records it, and search must use the same")
    for name, helptext in (("search", "the passages that best match a question"),
                           ("answer", "an answer with numbered citations")):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("question")
        command.add_argument("--db", required=True, help=DB_HELP + ", written by ingest")
        command.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
        command.add_argument("--method", choices=SEARCH_METHODS, default="hybrid+rerank")
        command.add_argument("--json", action="store_true", help="JSON lines instead of text")
        command.add_argument("--model", choices=MODELS, default="base",
                             help=model_help + "; it must be the one the ingest used")
        command.add_argument("--reranker", choices=SEARCH_RERANKERS, default="maxsim+hybrid",
                             help="what re-ranks the hybrid candidates of --method hybrid+rerank: maxsim+hybrid "
                                  "(the default: MaxSim's order fused with the hybrid order), maxsim (MaxSim "
                                  "alone), query-likelihood (the default's order re-ordered by how likely "
                                  "SmolLM2 finds the question after each passage; seconds per question) or "
                                  "cross-encoder (trained on the Wikipedia sample by 'adapt')")
    evaluate_command = commands.add_parser("evaluate", help="measure the four search methods on the Wikipedia questions")
    evaluate_command.add_argument("--max-words", type=int, default=None,
                                  help="index only the first N words of each article (default: all of it)")
    evaluate_command.add_argument("--rerank-top", type=int, default=20)
    adapt_command = commands.add_parser("adapt", help="fine-tune MiniLM and train a cross-encoder on the Wikipedia "
                                        "sample without labels (cached; a second run loads them)")
    adapt_command.add_argument("--what", choices=("encoder", "reranker", "both"), default="both")
    deep_command = commands.add_parser("evaluate-deep", help="passage@5, article@5, MRR, nDCG@10 and latency on the "
                                       "deep questions (data/passage_questions.jsonl), whole sample")
    deep_command.add_argument("--split", choices=SPLITS, default="dev", help="dev (for choices) or test (to report)")
    deep_command.add_argument("--model", choices=MODELS, default="base", help="the encoder: base or adapted")
    deep_command.add_argument("--reranker", choices=RERANKERS, default="maxsim")
    deep_command.add_argument("--rerank-top", type=int, default=20)
    deep_command.add_argument("--cheap", action="store_true",
                              help="instead: every remedy that needs no training (deeper re-ranking, MaxSim fused "
                                   "with the hybrid order), with the chosen encoder")
    commands.choices["search"].add_argument("--where", help='a Milvus filter, e.g. \'title == "Anarchism"\'')
    commands.choices["answer"].add_argument("--generator", choices=sorted(GENERATORS), default="extractive")
    return parser


def _count(number: int, noun: str) -> str:
    """``_count(1, "chunk")`` -> ``"1 chunk"``, ``_count(2, "chunk")`` -> ``"2 chunks"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _print_ingest(report: IngestReport) -> None:
    print(f"{report.db_path} now holds {_count(report.documents, 'document')} ({_count(report.chunks, 'chunk')}); "
          f"--mode {report.mode}{' (the default)' if report.mode == 'replace' else ''}, {report.seconds:.1f} s")
    print(", ".join(f"{change} {_count(documents, 'document') if change == 'added' else documents} "
                    f"({_count(chunks, 'chunk')})" for change, (documents, chunks) in report.changes.items()))
    for name, reason in report.skipped:
        print(f"skipped {name}: {reason}")
    if report.truncated:
        print(f"truncated: {len(report.truncated)} chunks are longer than the 256 tokens MiniLM reads, which embeds "
              f"only their beginning (e.g. {', '.join(report.truncated[:3])}): the title put before each chunk "
              f"counts too; lower --max-tokens")
    if report.other_types:
        print("not read (only .txt and .md files are): "
              + ", ".join(_count(count, f"{suffix} file") for suffix, count in report.other_types.items()))


def _print_hits(hits, as_json: bool) -> None:
    if not hits and not as_json:
        print("no results")
    for hit in hits:
        if as_json:
            print(json.dumps(hit.as_dict(), ensure_ascii=False))
        else:
            preview = " ".join(hit.chunk.text.split())
            preview = preview if len(preview) <= 300 else preview[:297] + "..."
            print(f"{hit.rank}. {hit.chunk.title}  (score {hit.score:.4f})\n   {preview}")


def _adapt(what: str) -> None:
    """Train (or load) the adapted encoder and the cross-encoder on the whole sample's chunks."""
    chunks = sample_chunks()
    trained = []
    if what in ("encoder", "both"):
        trained.append(("adapted MiniLM", adapted_minilm(chunks, AdaptationConfig(), show_progress=True)))
    if what in ("reranker", "both"):
        trained.append(("cross-encoder", trained_reranker(chunks, CrossEncoderConfig(), show_progress=True)))
    for name, model in trained:
        print(f"{name}: {len(model.losses)} steps in {model.seconds:.0f} s, loss {model.losses[:10].mean():.3f} "
              f"(first 10 steps) -> {model.losses[-10:].mean():.3f} (last 10), weights sha256 {model.checksum[:12]}")


def _search_models(args) -> tuple:
    """(model, reranker_for, hybrid_weight) for :func:`search` and :func:`answer` from ``--model``
    and ``--reranker``."""
    reranker_for = None
    if args.reranker in ("cross-encoder", "query-likelihood"):
        reranker_for = lambda chunks: reranker_by_name(args.reranker, chunks)
    return (encoder_by_name(args.model), reranker_for,
            SEARCH_HYBRID_WEIGHT if args.reranker in ("maxsim+hybrid", "query-likelihood") else 0.0)


def main(argv=None) -> int:
    """``python -m embedlab.rag ingest | search | answer``; ``--help`` on each says more."""
    args = _parser().parse_args(argv)
    if args.command not in ("ingest", "evaluate", "adapt", "evaluate-deep") or getattr(args, "quiet", False):
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" each time the model loads
    try:
        if args.command == "ingest":
            config = ChunkingConfig(args.max_tokens, args.overlap)
            model = encoder_by_name(args.model, show_progress=not args.quiet)
            _print_ingest(ingest(args.source, args.db, config, show_progress=not args.quiet, mode=args.mode,
                                 model=model))
        elif args.command == "evaluate":
            documents = wikipedia_documents(args.max_words)
            retriever = Retriever.from_documents(documents, show_progress=True)
            report = evaluate_retrievers(retriever, wikipedia_questions(), documents, rerank_top=args.rerank_top,
                                         show_progress=True)
            print(f"{len(retriever.chunks):,} chunks from {len(documents)} articles")
            print(report.round(3).to_string())
        elif args.command == "adapt":
            _adapt(args.what)
        elif args.command == "evaluate-deep":
            retriever = wikipedia_retriever(args.model, show_progress=True)
            report = (cheap_remedy_report(retriever, passage_questions(args.split)) if args.cheap else
                      deep_report(retriever, passage_questions(args.split), args.reranker, args.rerank_top, True))
            print(f"{args.split} half, {args.model} encoder, {len(retriever.chunks):,} chunks")
            print(pd.DataFrame(report).T.round(3).to_string())
        elif args.command == "search":
            _print_hits(search(args.question, args.db, args.k, args.method, args.where, *_search_models(args)),
                        args.json)
        else:
            generator = GENERATORS[args.generator]()
            result = answer(args.question, args.db, generator, args.k, args.method, *_search_models(args))
            if args.json:
                print(json.dumps({"answer": result.text, "sources": [hit.as_dict() for hit in result.hits],
                                  "left_out": [hit.as_dict() for hit in result.left_out]}, ensure_ascii=False))
            else:
                print(result.text + "\n")
                _print_hits(result.hits, as_json=False)
                if result.left_out:
                    found = len(result.hits) + len(result.left_out)
                    print(f"left out: {_count(len(result.left_out), 'passage')} of {found} (ranks "
                          f"{', '.join(str(hit.rank) for hit in result.left_out)}), which would not fit "
                          f"{generator.name}'s window of {generator.window:,} tokens with "
                          f"{generator.max_new_tokens} for the answer")
    except (ImportError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if not type(error).__module__.startswith(("pymilvus", "milvus_lite")):
            raise
        # What the library does not foresee from Milvus still gets one line, not its traceback.
        print(f"error: Milvus: {getattr(error, 'message', error)} (if the database is damaged, ingest again into a "
              f"new --db)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
