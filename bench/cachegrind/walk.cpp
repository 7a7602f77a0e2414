// walk.cpp — reclaim-side traversal for cachegrind (placeholder until the walk lands).
int main() { return 0; }
