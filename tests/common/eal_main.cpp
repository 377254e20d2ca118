// main() for test binaries that need EAL.
#include "common/test_env.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ctgate::test::eal_environment);
  return RUN_ALL_TESTS();
}
