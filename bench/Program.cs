// The bench harness gets its own issue; until then it only says so, so that `./run.sh bench` has a target.
Console.Error.WriteLine("mep-bench: no benchmarks yet (see the bench issue).");
return 2;
