"""The one IMB-QA prompt: used by the lm-eval tasks, `imb rag` and fine-tuning evaluation.

Change the wording here and every place that asks a model an IMB-QA
question changes with it, so their scores stay comparable.
"""

from __future__ import annotations

INSTRUCTION = (
    "Sei un medico esperto. Rispondi in italiano alla domanda del paziente "
    "in modo chiaro, accurato e conciso."
)


def format_prompt(question: str, context: str | None = None) -> str:
    """The Italian instruction, optional context passages, the question, `Risposta:`."""
    parts = [INSTRUCTION]
    if context:
        parts.append(f"Contesto:\n{context.strip()}")
    parts.append(f"Domanda: {question.strip()}\nRisposta:")
    return "\n\n".join(parts)
