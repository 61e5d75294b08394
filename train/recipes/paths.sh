# Sourced by the recipe scripts (from the project root): the shared data sets, where recipe runs live, the CLI.
SHARED=${AGEGENDER_SHARED:-../shared}
RUNS=${RECIPE_RUNS:-$HOME/.cache/agegender/runs/recipes}
AG=${AGEGENDER:-agegender}
UTK=$SHARED/datasets/utkface
FF=$SHARED/datasets/fairface
