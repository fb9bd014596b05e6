"""The model-iteration pipeline on Argo Workflows: templates authored with hera
(``templates``) and the resource-step conditions with their evaluator (``conditions``)."""
