package observe

import "testing"

func TestConntrackStat(t *testing.T) {
	text := "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n" +
		"00000010  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 0000000a 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n" +
		"00000010  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000005 00000000 00000000 00000000  00000000 00000000 00000000 00000000\n"
	got, err := conntrackStat(text, "insert_failed")
	if err != nil || got != 15 {
		t.Fatalf("insert_failed: %d, %v; want 15", got, err)
	}
	if _, err := conntrackStat(text, "nope"); err == nil {
		t.Fatal("an unknown column is an error")
	}
}
