from second_order.so_problems import cancer, scipy_logreg  # noqa: F401  (fixtures)
