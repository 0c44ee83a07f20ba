def find_batch_size(): pass
class BatchSizeResult: pass
