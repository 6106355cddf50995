"""Model code for the RLHF loop: data, generation, reward models, policy training, evaluation.

Plain Python + PyTorch + transformers. Nothing in this package imports Django, so every
function here runs from a notebook or a script as well as from a management command or a
Celery task.
"""
