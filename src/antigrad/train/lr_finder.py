def find_lr(): pass
class LRFinderResult: pass
