"""The model-iteration pipeline on Argo Workflows: templates authored with hera
(``templates``), the resource-step conditions with their evaluator (``conditions``) and the
canary gate its steps run (``gate``)."""
