"""Strategic alignment: lining improvement work up with aims, goals and national targets."""
