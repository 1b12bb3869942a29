/** `npm run bench`: benchmarks against the anchor tools. */
process.stdout.write('no benchmarks yet\n');
