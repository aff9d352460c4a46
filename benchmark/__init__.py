"""deepbench's shared layer: data sets, run directories, runtime, suites and the command line."""

DISTRIBUTION = "deepbench-fakes"  # the name on the package index ("deepbench" there is another project)
